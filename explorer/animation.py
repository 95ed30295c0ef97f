"""Clips: the export that renders timelines into clip files (the writers: explorer.clip_writers,
whose names are also importable from here).

    result = export_clip(service, timeline, "clip.mp4", size=256, progress=bar, cancel=event)
    job = start_export(service, timeline, "clip.gif")      # the same in a background thread
    job.progress -> (done, total, eta_s); job.cancel(); job.wait()

Frames are rendered by the render service (a PREFETCH job, so the window's own requests go first)
or, given a bare generator, by a producer thread calling `synthesize` in batches. Either way the
encoder runs on the exporting thread while the generator works on the next frames, so a long
export is bound by the generator, not by the encoder (bench/bench_export.py measures it).

Every writer works under a temp name beside the target and renames it into place only when the
clip is complete: a cancelled or failed export leaves nothing under the chosen name (and no
sidecar). The sidecar `<out>.timeline.json` holds the timeline(s) with every keyframe's recipe and
the export settings, so `Timeline.open` on it gives back a clip that renders again at any size.

Video goes through the ffmpeg binary that imageio-ffmpeg ships (its `write_frames` helper gives no
exit status and cannot be killed from outside, which atomic writes and cancel need, so the pipe is
ours). No Qt here.
"""
from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .clip_writers import (EXTENSIONS, FORMATS, SIDECAR_SUFFIX, SIDECAR_VERSION, ExportCancelled,
                           ExportError, FfmpegWriter, FrameWriter, GifWriter, Mp4Writer, PngSequenceWriter,
                           WebmWriter, even_size, ffmpeg_encoders, ffmpeg_exe, format_for, grid_shape, make_writer,
                           pad_to, png_files, png_layout, probe_clip, read_clip, sidecar_path, tile, to_rgb)
from .export import AtomicFile, clean_stale_temps
from .noise import NoiseSpec
from .plugins import EditCancelled
from .timeline import CLIP_FORMAT, ResolvedTimeline, Timeline

log = logging.getLogger(__name__)

__all__ = ["ExportResult", "ExportJob", "export_clip", "start_export", "read_sidecar", "sidecar_document",
           "max_export_size", "MAX_FRAMES", "MAX_SIZE", "MAX_UPSCALE",
           # the writers and file names, from explorer.clip_writers
           "EXTENSIONS", "FORMATS", "SIDECAR_SUFFIX", "SIDECAR_VERSION", "ExportCancelled", "ExportError",
           "FfmpegWriter", "FrameWriter", "GifWriter", "Mp4Writer", "PngSequenceWriter", "WebmWriter", "even_size",
           "ffmpeg_encoders", "ffmpeg_exe", "format_for", "grid_shape", "make_writer", "pad_to", "png_files",
           "png_layout", "probe_clip", "read_clip", "sidecar_path", "tile", "to_rgb"]

BUFFER_BYTES = 256 << 20        # rendered-but-not-encoded frames kept at most (about)
_POLL_S = 0.05                  # how often a waiting export looks at its cancel flag


# ----- the export --------------------------------------------------------------------------------
@dataclass
class ExportResult:
    path: Path
    sidecar: Path | None
    format: str
    frames: int
    fps: float
    width: int
    height: int
    seconds: float                  # wall-clock time of the export
    notes: list = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


class _Job:
    """What to render: n frames of k clips, interleaved as render item r = frame * k + clip."""

    def __init__(self, clips: list[ResolvedTimeline], n: int):
        self.clips, self.n, self.k = clips, n, len(clips)
        self.total = n * self.k
        self.ts = [c.frame_positions(n) for c in clips]
        self._noise = [[c.noise_at(t) for t in ts] for c, ts in zip(clips, self.ts)]

    def ws_block(self, start: int, count: int) -> np.ndarray:
        c0 = self.clips[0]
        out = np.empty((count, c0.num_ws, c0.w_dim), np.float32)
        rs = np.arange(start, start + count)
        fs, cs = rs // self.k, rs % self.k
        for c in range(self.k):
            sel = np.nonzero(cs == c)[0]
            if len(sel):
                out[sel] = self.clips[c].frames_ws(self.ts[c][fs[sel]])
        return out

    def noise(self, r: int) -> NoiseSpec:
        return self._noise[r % self.k][r // self.k]

    def post(self, r: int) -> tuple:
        return self.clips[r % self.k].post_at(self.ts[r % self.k][r // self.k])


class _Source:
    """Rendered images by item index, filled by a renderer, drained in order by the exporter."""

    def __init__(self, job: _Job, ahead: int):
        self.job, self.ahead = job, max(1, int(ahead))
        self._cond = threading.Condition()
        self._ready: dict[int, np.ndarray] = {}
        self._error: BaseException | None = None

    def _put(self, start: int, images) -> None:
        with self._cond:
            for i, img in enumerate(images):
                self._ready[start + i] = img
            self._cond.notify_all()

    def _fail(self, error: BaseException) -> None:
        with self._cond:
            if self._error is None:
                self._error = error
            self._cond.notify_all()

    def pump(self, consumed: int) -> None:
        """The exporter has taken items < consumed: let the renderer go ahead up to consumed + ahead."""

    def get(self, r: int, cancelled: Callable[[], bool]) -> np.ndarray:
        self.pump(r)
        with self._cond:
            while r not in self._ready:
                if self._error is not None:
                    raise self._error
                if cancelled():
                    raise ExportCancelled("export cancelled")
                self._cond.wait(_POLL_S)
            return self._ready.pop(r)

    def cancel(self) -> None:
        pass


class _ServiceSource(_Source):
    """Renders through a RenderService in windows of frames, each a PREFETCH job.

    Back-pressure stays on our side: a new window is submitted only while fewer than `ahead` items
    wait to be encoded, so the worker never blocks in our callbacks and interactive requests keep
    getting served between our batches."""

    def __init__(self, service, job: _Job, size: int, ahead: int, window: int, priority):
        super().__init__(job, ahead)
        self.service, self.size, self.window, self.priority = service, size, max(1, int(window)), priority
        self.submitted = 0
        self.tickets: list = []

    def pump(self, consumed: int) -> None:
        from .render import Status

        while self.submitted < self.job.total and self.submitted - consumed < self.ahead:
            off = self.submitted
            n = min(self.window, self.job.total - off)
            ws = self.job.ws_block(off, n)

            def on_done(result, _off=off):
                if result.status is Status.OK:
                    return
                if result.status is Status.ERROR:
                    self._fail(ExportError(f"rendering failed: {result.error}"))
                else:
                    self._fail(ExportCancelled(f"the render service ended the export ({result.status.value}"
                                               f"{': ' + result.error if result.error else ''})"))

            t = self.service.submit_job(ws, size=self.size, priority=self.priority,
                                        noise=lambda i, _off=off: self.job.noise(_off + i),
                                        on_images=lambda s, imgs, _off=off: self._put(_off + s, imgs),
                                        callback=on_done, total=n, exact=True)
            self.tickets = [x for x in self.tickets if not x.done] + [t]
            self.submitted += n

    def cancel(self) -> None:
        for t in self.tickets:
            t.cancel()


class _DirectSource(_Source):
    """Renders with the generator itself in a producer thread (no render service)."""

    def __init__(self, model, job: _Job, size: int, ahead: int, batch: int):
        super().__init__(job, ahead)
        self.model, self.size, self.batch = model, size, max(1, int(batch))
        self._consumed = 0
        self._stop = threading.Event()
        info = model.info
        noise_inputs = getattr(model, "noise_inputs", lambda: [1])
        self._has_noise = info.arch != "stylegan3" and bool(noise_inputs())
        self._thread = threading.Thread(target=self._run, name="export-render", daemon=True)
        self._thread.start()

    def pump(self, consumed: int) -> None:
        with self._cond:
            self._consumed = consumed
            self._cond.notify_all()

    def _run(self) -> None:
        import torch

        try:
            with torch.inference_mode():
                r = 0
                while r < self.job.total and not self._stop.is_set():
                    n = min(self.batch, self.job.total - r)
                    with self._cond:
                        while not self._stop.is_set() and r + n - self._consumed > max(self.ahead, n):
                            self._cond.wait(_POLL_S)
                    if self._stop.is_set():
                        return
                    self._put(r, self._render(r, n))
                    r += n
        except BaseException as e:  # noqa: BLE001 - handed to the exporting thread
            self._fail(ExportError(f"rendering failed: {type(e).__name__}: {e}"))

    def _render(self, start: int, n: int) -> list:
        import torch

        from .generators.generator import to_uint8
        from .render_cache import resize_images

        ws = self.job.ws_block(start, n)
        specs = [self.job.noise(start + i).canonical(self._has_noise) for i in range(n)]
        out: list = []
        i = 0
        while i < n:  # consecutive frames with the same noise settings share one synthesize call
            j = i + 1
            while j < n and specs[j].batch_key == specs[i].batch_key:
                j += 1
            mode, strength, layers = specs[i].batch_key
            seeds = [s.seed for s in specs[i:j]] if mode == "random" else None
            x = torch.from_numpy(ws[i:j]).to(self.model.device)
            imgs = self.model.synthesize(x, noise_mode=mode, noise_seed=seeds, noise_strength=strength,
                                         noise_layers=layers)
            out.extend(to_uint8(resize_images(imgs, self.size)))
            i = j
        return out

    def cancel(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(0.2)


class _Eta:
    """Seconds left from the recent pace: frames done over the last few seconds, measured from the
    export's start until there is history. Frames arrive in bursts (one per render batch), so the
    window always spans at least three of the longest gaps seen: a burst alone would only show
    the encoder's speed."""

    HORIZON_S = 5.0

    def __init__(self):
        self.samples: deque = deque([(time.perf_counter(), 0)])
        self.max_gap = 0.0

    def update(self, done: int, total: int) -> float | None:
        now = time.perf_counter()
        self.max_gap = max(self.max_gap, now - self.samples[-1][0])
        self.samples.append((now, done))
        horizon = max(self.HORIZON_S, 3.0 * self.max_gap)
        while len(self.samples) > 2 and now - self.samples[1][0] >= horizon:
            self.samples.popleft()
        t0, d0 = self.samples[0]
        if done <= d0 or now <= t0:
            return None
        return max(0.0, (total - done) * (now - t0) / (done - d0))


def _is_service(obj) -> bool:
    return callable(getattr(obj, "submit_job", None)) and hasattr(obj, "generator")


def _cancel_fn(cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event) or callable(getattr(cancel, "is_set", None)):
        return cancel.is_set
    if callable(cancel):
        return lambda: bool(cancel())
    raise TypeError("cancel must be a threading.Event or a callable returning True to stop")


def sidecar_document(clips: Sequence[Timeline], settings: dict) -> dict:
    """The JSON an export writes beside its clip: timelines (all keyframe recipes) + settings."""
    return {"format": CLIP_FORMAT, "version": SIDECAR_VERSION, "timeline": clips[0].to_json(),
            "grid": [c.to_json() for c in clips[1:]], "export": settings}


def read_sidecar(path: str | os.PathLike) -> tuple[list[Timeline], dict]:
    """(timelines of the clip, main first, and its export settings) from a sidecar file."""
    from .timeline import TimelineError, read_json_document

    path = Path(path)
    doc = read_json_document(path, "clip sidecar")
    if not isinstance(doc, dict) or doc.get("format") != CLIP_FORMAT:
        raise TimelineError(f"{path.name}: is not a clip sidecar")
    grid, settings = doc.get("grid") or [], doc.get("export") or {}
    if not isinstance(grid, list) or len(grid) > 64 or not isinstance(settings, dict):
        raise TimelineError(f"{path.name}: has a malformed grid or export section")
    try:
        clips = [Timeline.from_json(doc["timeline"])] + [Timeline.from_json(d) for d in grid]
        settings = _checked_export_settings(settings)
    except (KeyError, ValueError) as e:
        raise TimelineError(f"{path.name}: {str(e)[:200]}") from None
    return clips, settings


MAX_FRAMES = 1_000_000
MAX_SIZE = 8192
MAX_UPSCALE = 8


def max_export_size(resolution: int) -> int:
    """The largest frame side an export offers: MAX_UPSCALE x the model's, at most 4096 px."""
    return max(int(resolution), min(4096, MAX_UPSCALE * int(resolution)))


def _checked_export_settings(settings: dict) -> dict:
    """Export settings from a file: frame count, size and fps bounded before anything is allocated."""
    out = dict(settings)
    for key, lo, hi in (("frames", 1, MAX_FRAMES), ("size", 1, MAX_SIZE), ("fps", 0.01, 240.0),
                        ("grid_cols", 1, 64)):
        v = out.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
            raise ValueError(f"export {key} {str(v)[:20]!r} is outside {lo}..{hi}")
    return out


def export_clip(model_or_service, timeline: Timeline | Sequence[Timeline], out_path: str | os.PathLike,
                fmt: str | None = None, size: int | None = None, fps: float | None = None,
                frames: int | None = None, grid: Sequence[Timeline] | None = None, *,
                grid_cols: int | None = None, progress: Callable[[int, int, float | None], Any] | None = None,
                cancel=None, sidecar: bool = True, registry=None, directions=None, batch: int | None = None,
                ahead: int | None = None, writer_options: dict | None = None, priority=None) -> ExportResult:
    """Render a timeline (or several side by side) into a clip; blocks until done.

    model_or_service: a RenderService (frames go through its worker at PREFETCH priority) or a
    Generator (rendered here with a producer thread). fmt: 'mp4' | 'webm' | 'gif' | 'png', default
    from out_path's extension (a folder or a %04d.png pattern is a PNG sequence). size: side of one
    clip's frame, at most the model's resolution (default: the resolution). fps / frames: default
    the timeline's fps and fps * duration (frames of one loop cycle when looping).
    grid: more timelines shown beside the first (or pass a list as `timeline`), `grid_cols` columns.
    progress(done_frames, total_frames, eta_seconds or None) runs on this thread after each frame.
    cancel: a threading.Event or a callable; when set, ExportCancelled is raised and nothing is left
    under out_path. registry / directions: for keyframe edits and image post-steps.
    Raises ExportError (ExportCancelled) or ValueError for bad settings.
    """
    t_start = time.perf_counter()
    clips = list(timeline) if isinstance(timeline, (list, tuple)) else [timeline]
    clips += list(grid or [])
    if not clips:
        raise ValueError("nothing to export: no timeline")
    for c in clips:
        if not isinstance(c, Timeline):
            raise TypeError(f"expected Timeline objects, got {type(c).__name__}")
    service = model_or_service if _is_service(model_or_service) else None
    model = service.generator if service is not None else model_or_service
    info = model.info
    fmt = format_for(out_path, fmt)
    res = int(info.resolution)
    size = res if size is None else int(size)
    if not 1 <= size <= max_export_size(res):
        raise ValueError(f"output size must be 1..{max_export_size(res)} ({MAX_UPSCALE}x the model's "
                         f"{res} px at most), got {size}")
    fps = float(clips[0].fps if fps is None else fps)
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps}")
    n = clips[0].frame_count(frames, fps)
    cols, rows = grid_shape(len(clips), grid_cols)
    width, height = cols * size, rows * size
    is_cancelled = _cancel_fn(cancel)

    resolved = [c.resolve(model, registry, directions) for c in clips]
    notes = [f"clip {i + 1}: {note}" if len(clips) > 1 else note for i, r in enumerate(resolved) for note in r.notes]
    if size > res:
        notes.append(f"frames upscaled from the model's {res} px to {size} px (Lanczos)")
    needs_post = any(lat.post for r in resolved for lat in r.latents)
    if needs_post and registry is None:
        registry = resolved[0].registry
    job = _Job(resolved, n)

    channels = int(getattr(info, "img_channels", 3))
    item_bytes = max(1, size * size * channels)
    if ahead is None:
        ahead = int(min(256, max(8, BUFFER_BYTES // item_bytes)))
    ahead = max(ahead, len(clips))

    writer = make_writer(fmt, **(writer_options or {}))
    out_path = Path(out_path)
    clean_stale_temps(out_path.parent)   # what an interrupted earlier export left there
    side = sidecar_path(out_path, fmt) if sidecar else None
    source: _Source | None = None
    side_tmp: AtomicFile | None = None
    writer.open(out_path, fps, (width, height))
    try:
        if service is not None:
            from .render import Priority

            source = _ServiceSource(service, job, size, ahead, window=max(1, min(64, ahead // 2)),
                                    priority=Priority.PREFETCH if priority is None else priority)
        else:
            dev = getattr(model, "device", None)
            default_batch = 32 if getattr(dev, "type", "cpu") == "cuda" else 8
            source = _DirectSource(model, job, size, ahead, batch or default_batch)
        eta = _Eta()
        # one sequence per clip: a slow image edit (style transfer) starts each frame from its result
        # for the previous frame, so the clip does not flicker; a new keyframe's edits start afresh
        sequences: list[tuple[tuple, dict]] = [((), {}) for _ in range(job.k)]
        for f in range(n):
            tiles = []
            for c in range(job.k):
                r = f * job.k + c
                img = source.get(r, is_cancelled)
                post = job.post(r) if needs_post else ()
                if post:
                    key = tuple(json.dumps(p, sort_keys=True, default=str) for p in post)
                    if sequences[c][0] != key:
                        sequences[c] = (key, {})
                    try:
                        img = registry.apply_post(img, post, model=model, sequence=sequences[c][1],
                                                  cancelled=is_cancelled)
                    except EditCancelled:
                        raise ExportCancelled("export cancelled") from None
                tiles.append(img)
            if is_cancelled():
                raise ExportCancelled("export cancelled")
            writer.write(tiles[0] if job.k == 1 else tile(tiles, cols, rows))
            if progress is not None:
                left = eta.update(f + 1, n)
                try:
                    progress(f + 1, n, left)
                except Exception:  # a broken progress bar must not fail the export
                    log.exception("export progress callback failed")
        if is_cancelled():
            raise ExportCancelled("export cancelled")
        notes += writer.notes
        if side is not None:
            from . import __version__

            settings = {"format": fmt, "file": out_path.name, "fps": fps, "frames": n, "size": size,
                        "width": width, "height": height, "grid_cols": cols, "loop": clips[0].loop,
                        "model": {"fingerprint": str(model.fingerprint), "name": getattr(model, "name", ""),
                                  "resolution": res},
                        "writer": dict(writer_options or {}), "app_version": __version__,
                        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            side_tmp = AtomicFile(side)
            side_tmp.tmp.write_text(json.dumps(sidecar_document(clips, settings), indent=1, sort_keys=True) + "\n",
                                    encoding="utf-8")
        path = writer.close()
        if side_tmp is not None:
            side_tmp.commit()
    except BaseException:
        if source is not None:
            source.cancel()
        writer.abort()
        if side_tmp is not None:
            side_tmp.abort()
        raise
    return ExportResult(path=path, sidecar=side, format=fmt, frames=n, fps=fps, width=width, height=height,
                        seconds=time.perf_counter() - t_start, notes=notes)


# ----- background export -------------------------------------------------------------------------
class ExportJob:
    """export_clip in a background thread, with the state a progress bar needs.

    progress: (done, total, eta_seconds or None); status: 'running' | 'ok' | 'cancelled' | 'failed';
    result (ExportResult) or error. on_progress(job) / on_done(job) run on the export thread (the
    Qt adapter re-posts them as signals)."""

    def __init__(self, model_or_service, timeline, out_path, *, on_progress: Callable | None = None,
                 on_done: Callable | None = None, **kwargs):
        self.out_path = Path(out_path)
        self.progress: tuple[int, int | None, float | None] = (0, None, None)
        self.status = "running"
        self.result: ExportResult | None = None
        self.error: BaseException | None = None
        self.started = time.perf_counter()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._on_progress, self._on_done = on_progress, on_done
        if "cancel" in kwargs or "progress" in kwargs:
            raise TypeError("ExportJob owns cancel and progress; use job.cancel() and on_progress")
        self._thread = threading.Thread(target=self._run, args=(model_or_service, timeline, out_path, kwargs),
                                        name="export", daemon=True)
        self._thread.start()

    def _run(self, model_or_service, timeline, out_path, kwargs) -> None:
        try:
            self.result = export_clip(model_or_service, timeline, out_path, progress=self._progress,
                                      cancel=self._cancel, **kwargs)
            self.status = "ok"
        except ExportCancelled:
            self.status = "cancelled"
        except BaseException as e:  # noqa: BLE001 - reported through status / error
            self.error, self.status = e, "failed"
            log.warning("export to %s failed: %s: %s", self.out_path, type(e).__name__, e)
        finally:
            self._done.set()
            if self._on_done is not None:
                try:
                    self._on_done(self)
                except Exception:
                    log.exception("export on_done callback failed")

    def _progress(self, done: int, total: int, eta: float | None) -> None:
        self.progress = (done, total, eta)
        if self._on_progress is not None:
            self._on_progress(self)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> ExportResult | None:
        """The result once finished (None if cancelled or failed: see status / error)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"export to {self.out_path} not finished after {timeout} s")
        return self.result


def start_export(model_or_service, timeline, out_path, **kwargs) -> ExportJob:
    """Start export_clip in the background; see ExportJob."""
    return ExportJob(model_or_service, timeline, out_path, **kwargs)
