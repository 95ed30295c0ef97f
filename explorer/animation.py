"""Clips: frame writers (PNG sequence, GIF, MP4, WebM) and the export that renders timelines into them.

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

import functools
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .export import AtomicFile, AtomicFolder, clean_stale_temps, temp_path_beside
from .noise import NoiseSpec
from .plugins import EditCancelled
from .timeline import CLIP_FORMAT, ResolvedTimeline, Timeline

log = logging.getLogger(__name__)

FORMATS = ("mp4", "webm", "gif", "png")
EXTENSIONS = {".mp4": "mp4", ".m4v": "mp4", ".webm": "webm", ".gif": "gif", ".png": "png"}
SIDECAR_SUFFIX = ".timeline.json"
SIDECAR_VERSION = 1
DEFAULT_PNG_PATTERN = "frame_%05d.png"
GIF_MAX_FPS = 50.0              # GIF delays are whole centiseconds; players slow down delays < 2 cs
BUFFER_BYTES = 256 << 20        # rendered-but-not-encoded frames kept at most (about)
_POLL_S = 0.05                  # how often a waiting export looks at its cancel flag


class ExportError(Exception):
    """An export that could not be done (bad settings, encoder failure, render error)."""


class ExportCancelled(ExportError):
    """The export was cancelled; nothing was written under the target name."""


# ----- frame helpers -----------------------------------------------------------------------------
def to_rgb(frame: np.ndarray) -> np.ndarray:
    """uint8 [H, W, C] with C in 1, 3, 4 -> uint8 [H, W, 3] (grey repeated, alpha dropped)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3:
        raise ValueError(f"frames must be uint8 [H, W, C], got {frame.dtype} {frame.shape}")
    c = frame.shape[2]
    if c == 3:
        return frame
    if c == 1:
        return np.repeat(frame, 3, axis=2)
    if c == 4:
        return frame[:, :, :3]
    raise ValueError(f"frames must have 1, 3 or 4 channels, got {c}")


def even_size(width: int, height: int) -> tuple[int, int]:
    """yuv420p halves the chroma planes: H.264 and VP9 need even sides."""
    return width + width % 2, height + height % 2


def pad_to(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pad the right/bottom edge by repeating it (a 1-px border nobody sees) up to width x height."""
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    return np.pad(frame, ((0, height - h), (0, width - w), (0, 0)), mode="edge")


def tile(images: Sequence[np.ndarray], cols: int, rows: int | None = None) -> np.ndarray:
    """Equal-size uint8 images [H, W, C] side by side, row-major; empty cells are black."""
    rows = rows or math.ceil(len(images) / cols)
    h, w, c = images[0].shape
    out = np.zeros((rows * h, cols * w, c), np.uint8)
    for i, img in enumerate(images):
        r, q = divmod(i, cols)
        out[r * h:(r + 1) * h, q * w:(q + 1) * w] = img
    return out


def grid_shape(n: int, cols: int | None = None) -> tuple[int, int]:
    """(cols, rows) for n clips: as square as possible unless cols is given."""
    cols = int(cols) if cols else math.ceil(math.sqrt(n))
    if cols < 1:
        raise ValueError("grid columns must be at least 1")
    cols = min(cols, n)
    return cols, math.ceil(n / cols)


# ----- output names ------------------------------------------------------------------------------
def format_for(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The clip format: `fmt` if given, else from the extension; a path without one is a PNG folder."""
    if fmt:
        fmt = fmt.lower().lstrip(".")
        if fmt not in FORMATS:
            raise ValueError(f"unknown clip format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    p = Path(path)
    ext = p.suffix.lower()
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    if ext == "" or p.is_dir() or str(path).endswith(("/", os.sep)):
        return "png"
    raise ValueError(f"cannot tell the clip format from {p.name!r}; use .mp4, .webm, .gif, .png "
                     "(a frame pattern such as frame_%04d.png) or a folder")


_PATTERN = re.compile(r"%(0?\d*)d")


def png_layout(path: str | os.PathLike) -> tuple[Path, str, bool]:
    """(folder, file pattern, own_folder) of a PNG sequence target.

    'frames/' or 'frames' -> the folder frames/ holding frame_00000.png ... (own_folder: the whole
    folder is the clip). 'out/shot_%04d.png' -> those names in out/; 'out/shot.png' -> shot_00000.png ...
    """
    p = Path(path)
    if p.suffix.lower() != ".png":
        return p, DEFAULT_PNG_PATTERN, True
    name = p.name
    if len(_PATTERN.findall(name)) > 1 or ("%" in name and not _PATTERN.search(name)):
        raise ValueError(f"a PNG pattern holds one frame number such as %04d, got {name!r}")
    if not _PATTERN.search(name):
        name = f"{p.stem}_%05d.png"
    return p.parent, name, False


def _pattern_regex(pattern: str) -> re.Pattern:
    """'shot_%04d.png' -> a regex matching shot_0000.png, shot_12345.png ... (number in group 1)."""
    escaped = re.escape(pattern).replace("\\%", "%")
    return re.compile("^" + _PATTERN.sub(lambda m: r"(\d+)", escaped) + "$")


def sidecar_path(out_path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Where an export's timeline sidecar goes: `<out>.timeline.json` (beside a frame folder, and
    `<pattern without the number>.timeline.json` beside a frame pattern)."""
    fmt = format_for(out_path, fmt)
    p = Path(out_path)
    if fmt != "png":
        return p.with_name(p.name + SIDECAR_SUFFIX)
    folder, pattern, own = png_layout(p)
    if own:
        return folder.with_name(folder.name + SIDECAR_SUFFIX)
    stem = _PATTERN.sub("", Path(pattern).stem).rstrip("_-. ") or "frames"
    return folder / (stem + SIDECAR_SUFFIX)


# ----- writers -----------------------------------------------------------------------------------
class FrameWriter:
    """One interface for every clip format: open(path, fps, (width, height)), write(frame) for each
    uint8 [H, W, C] frame in order, then close() (commits, returns the path) or abort() (deletes
    everything written). Used as a context manager it aborts on an exception."""

    fmt = ""

    def __init__(self, **options):
        self.options = options
        self.path: Path | None = None
        self.fps = 0.0
        self.size = (0, 0)
        self.count = 0
        self.notes: list[str] = []
        self._open = False

    def open(self, path: str | os.PathLike, fps: float, size: tuple[int, int]) -> "FrameWriter":
        fps = float(fps)
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be positive, got {fps}")
        w, h = (int(v) for v in size)
        if w < 1 or h < 1:
            raise ValueError(f"frame size must be positive, got {w}x{h}")
        self.path, self.fps, self.size, self.count = Path(path), fps, (w, h), 0
        self._start()
        self._open = True
        return self

    def write(self, frame: np.ndarray) -> None:
        if not self._open:
            raise RuntimeError("writer is not open")
        frame = np.asarray(frame)
        w, h = self.size
        if frame.ndim != 3 or frame.shape[:2] != (h, w) or frame.dtype != np.uint8:
            raise ValueError(f"expected a uint8 frame of {w}x{h}, got {frame.dtype} {frame.shape}")
        self._write(frame)
        self.count += 1

    def close(self) -> Path:
        if not self._open:
            raise RuntimeError("writer is not open")
        self._open = False
        try:
            if self.count == 0:
                raise ExportError("no frames were written")
            return self._finish()
        except BaseException:
            self._discard()
            raise

    def abort(self) -> None:
        if self._open:
            self._open = False
            self._discard()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        elif self._open:
            self.close()

    # subclasses
    def _start(self) -> None:
        raise NotImplementedError

    def _write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> Path:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError


class PngSequenceWriter(FrameWriter):
    """Numbered PNGs, written into a temp folder and moved into place at close().

    options: compress_level (zlib 0-9; default 1: 4x faster than Pillow's 6 at 512 px for ~15%
    larger files, the right trade for an intermediate), start (first frame number, default 0).
    """

    fmt = "png"

    def _start(self) -> None:
        self.folder, self.pattern, self.own_folder = png_layout(self.path)
        self.pattern % 0  # noqa: B018  (a bad pattern fails here, not after rendering)
        self._start_no = int(self.options.get("start", 0))
        self._level = int(self.options.get("compress_level", 1))
        if self.own_folder:
            self._target = AtomicFolder(self.folder)
            self._tmp = self._target.tmp
        else:
            self._target = None
            self._tmp = temp_path_beside(self.folder / _PATTERN.sub("", self.pattern), directory=True)
        self.files: list[str] = []

    def _write(self, frame: np.ndarray) -> None:
        from PIL import Image

        name = self.pattern % (self._start_no + self.count)
        img = frame[:, :, 0] if frame.shape[2] == 1 else frame
        Image.fromarray(np.ascontiguousarray(img)).save(self._tmp / name, format="PNG", compress_level=self._level)
        self.files.append(name)

    def _finish(self) -> Path:
        if self._target is not None:
            return self._target.commit()
        # frames of an older, longer clip with the same pattern would read as part of this one
        regex = _pattern_regex(self.pattern)
        new = set(self.files)
        for old in self.folder.iterdir():
            if old.is_file() and regex.match(old.name) and old.name not in new:
                old.unlink()
        for name in self.files:
            os.replace(self._tmp / name, self.folder / name)
        shutil.rmtree(self._tmp, ignore_errors=True)
        return self.folder / self.pattern

    def _discard(self) -> None:
        if self._target is not None:
            self._target.abort()
        else:
            shutil.rmtree(self._tmp, ignore_errors=True)


class GifWriter(FrameWriter):
    """Animated GIF with Pillow, looping forever.

    Each frame is quantised to its own 256-colour palette as it arrives (on the exporting thread,
    so this overlaps the rendering of later frames) and kept as 1 byte/pixel; the file is written
    at close(). options: quality 'fast' (fast octree, ~3 ms at 512 px) or 'best' (median cut +
    Floyd-Steinberg dithering, ~0.2 s at 512 px). Delays are whole centiseconds, spread so the
    average rate is the requested fps (capped at 50). Pillow merges identical consecutive frames
    into one longer frame: a hold shows as one frame in a GIF reader, with the right duration.
    """

    fmt = "gif"

    def _start(self) -> None:
        quality = self.options.get("quality", "fast")
        if quality not in ("fast", "best"):
            raise ValueError(f"GIF quality is 'fast' or 'best', not {quality!r}")
        self._quality = quality
        self._target = AtomicFile(self.path)
        self._frames: list = []
        if self.fps > GIF_MAX_FPS:
            self.notes.append(f"GIF plays at most {GIF_MAX_FPS:g} fps; frames are timed for {GIF_MAX_FPS:g} fps")

    def _write(self, frame: np.ndarray) -> None:
        from PIL import Image

        img = Image.fromarray(np.ascontiguousarray(to_rgb(frame)))
        if self._quality == "best":
            pal = img.quantize(256, method=Image.Quantize.MEDIANCUT)
            q = img.quantize(palette=pal, dither=Image.Dither.FLOYDSTEINBERG)
        else:
            q = img.quantize(256, method=Image.Quantize.FASTOCTREE)
        self._frames.append(q)

    def durations_ms(self, n: int) -> list[int]:
        """Per-frame delays (ms, whole centiseconds) whose running sum tracks i / fps."""
        fps = min(self.fps, GIF_MAX_FPS)
        cs = [round((i + 1) * 100 / fps) - round(i * 100 / fps) for i in range(n)]
        return [max(2, c) * 10 for c in cs]

    def _finish(self) -> Path:
        first, rest = self._frames[0], self._frames[1:]
        first.save(self._target.tmp, format="GIF", save_all=True, append_images=rest, loop=0,
                   duration=self.durations_ms(len(self._frames)), optimize=False, disposal=1)
        self._frames = []
        return self._target.commit()

    def _discard(self) -> None:
        self._frames = []
        self._target.abort()


@functools.lru_cache(maxsize=None)
def ffmpeg_exe() -> str:
    """The ffmpeg binary imageio-ffmpeg provides (or $IMAGEIO_FFMPEG_EXE)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ExportError("MP4 and WebM export need imageio-ffmpeg (pip install 'latent-explorer[media]')") from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as e:
        raise ExportError(f"no usable ffmpeg binary: {e}") from None


@functools.lru_cache(maxsize=None)
def ffmpeg_encoders() -> frozenset:
    """Names of the video encoders the ffmpeg binary was built with."""
    try:
        out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True,
                             timeout=30, **_popen_kwargs()).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise ExportError(f"cannot run ffmpeg: {e}") from None
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] == "V":
            names.add(parts[1])
    return frozenset(names)


def _popen_kwargs() -> dict:
    """Keep ffmpeg out of our terminal's Ctrl-C (we stop it ourselves) and, on Windows, windowless."""
    if sys.platform.startswith("win"):
        return {"creationflags": 0x08000000 | 0x00000200}  # CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP
    return {"start_new_session": True}


class FfmpegWriter(FrameWriter):
    """Raw RGB frames piped into ffmpeg, which writes a temp file beside the target.

    Odd sides are padded by one edge pixel (yuv420p needs even sides). options: crf (quality, lower
    is better), extra_args (list of ffmpeg output options, appended).
    """

    container = ""

    def codec_args(self) -> list[str]:
        raise NotImplementedError

    def _start(self) -> None:
        w, h = self.size
        self._pw, self._ph = even_size(w, h)
        if (self._pw, self._ph) != (w, h):
            self.notes.append(f"{self.fmt}: padded {w}x{h} to {self._pw}x{self._ph} (yuv420p needs even sides)")
        args = self.codec_args() + [str(a) for a in self.options.get("extra_args", [])]
        self._target = AtomicFile(self.path)
        fps = Fraction(self.fps).limit_denominator(100000)
        cmd = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self._pw}x{self._ph}", "-r", str(fps),
               "-i", "-", "-an", *args, "-f", self.container, str(self._target.tmp)]
        self._err = tempfile.TemporaryFile()
        self.command = cmd
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=self._err, **_popen_kwargs())
        except OSError as e:
            self._err.close()
            self._target.abort()
            raise ExportError(f"cannot start ffmpeg: {e}") from None

    def _stderr(self) -> str:
        try:
            self._err.seek(0)
            text = self._err.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return text[-2000:]

    def _write(self, frame: np.ndarray) -> None:
        data = np.ascontiguousarray(pad_to(to_rgb(frame), self._pw, self._ph))
        try:
            self._proc.stdin.write(memoryview(data).cast("B"))
        except (BrokenPipeError, OSError) as e:
            self._proc.wait()
            raise ExportError(f"ffmpeg stopped ({self._proc.returncode}): {self._stderr() or e}") from None

    def _finish(self) -> Path:
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        rc = self._proc.wait()
        err = self._stderr()
        self._err.close()
        if rc != 0:
            raise ExportError(f"ffmpeg failed with exit status {rc}: {err or 'no message'}")
        return self._target.commit()

    def _discard(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            try:
                proc.stdin.close()
            except OSError:
                pass
            proc.wait()
        err = getattr(self, "_err", None)
        if err is not None and not err.closed:
            err.close()
        self._target.abort()


class Mp4Writer(FfmpegWriter):
    """H.264 (libx264) in MP4, yuv420p, +faststart. options: crf (default 18), preset (default 'medium')."""

    fmt = "mp4"
    container = "mp4"

    def codec_args(self) -> list[str]:
        if "libx264" not in ffmpeg_encoders():
            raise ExportError("this ffmpeg has no H.264 encoder (libx264); export WebM or GIF instead")
        return ["-c:v", "libx264", "-preset", str(self.options.get("preset", "medium")),
                "-crf", str(self.options.get("crf", 18)), "-pix_fmt", "yuv420p", "-movflags", "+faststart"]


class WebmWriter(FfmpegWriter):
    """VP9 (libvpx-vp9, constant quality) in WebM, or VP8 where the ffmpeg lacks VP9.
    options: crf (default 32), speed (libvpx cpu-used, 0 slow/best .. 8 fast; default 4)."""

    fmt = "webm"
    container = "webm"

    def codec_args(self) -> list[str]:
        enc = ffmpeg_encoders()
        crf, speed = str(self.options.get("crf", 32)), str(self.options.get("speed", 4))
        if "libvpx-vp9" in enc:
            return ["-c:v", "libvpx-vp9", "-b:v", "0", "-crf", crf, "-deadline", "good", "-cpu-used", speed,
                    "-row-mt", "1", "-pix_fmt", "yuv420p"]
        if "libvpx" in enc:
            return ["-c:v", "libvpx", "-b:v", "4M", "-crf", crf, "-deadline", "good", "-cpu-used", speed,
                    "-pix_fmt", "yuv420p"]
        raise ExportError("this ffmpeg has no VP9 or VP8 encoder; export MP4 or GIF instead")


WRITERS: dict[str, type[FrameWriter]] = {"png": PngSequenceWriter, "gif": GifWriter, "mp4": Mp4Writer,
                                         "webm": WebmWriter}


def make_writer(fmt: str, **options) -> FrameWriter:
    try:
        return WRITERS[format_for("", fmt)](**options)
    except KeyError:
        raise ValueError(f"unknown clip format {fmt!r}") from None


# ----- reading clips back (previews, tests) ------------------------------------------------------
def probe_clip(path: str | os.PathLike) -> dict:
    """{'frames', 'width', 'height', 'fps'} of a written clip (decodes video to count exactly)."""
    fmt = format_for(path)
    p = Path(path)
    if fmt == "gif":
        from PIL import Image

        with Image.open(p) as im:
            n, (w, h) = im.n_frames, im.size
            total = 0
            for i in range(n):
                im.seek(i)
                total += im.info.get("duration", 0)
        return {"frames": n, "width": w, "height": h, "fps": (1000.0 * n / total) if total else None}
    if fmt == "png":
        files = png_files(p)
        if not files:
            return {"frames": 0, "width": 0, "height": 0, "fps": None}
        from PIL import Image

        with Image.open(files[0]) as im:
            w, h = im.size
        return {"frames": len(files), "width": w, "height": h, "fps": None}
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(p))
    meta = next(gen)
    n = sum(1 for _ in gen)
    w, h = meta["size"]
    return {"frames": n, "width": w, "height": h, "fps": meta.get("fps")}


def png_files(path: str | os.PathLike) -> list[Path]:
    """The frames of a PNG sequence target, in order."""
    folder, pattern, _ = png_layout(path)
    regex = _pattern_regex(pattern)
    found = []
    if folder.is_dir():
        for f in folder.iterdir():
            m = regex.match(f.name)
            if m:
                found.append((int(m.group(1)), f))
    return [f for _, f in sorted(found)]


def read_clip(path: str | os.PathLike) -> np.ndarray:
    """All frames of a clip as uint8 [N, H, W, 3] (small clips: previews and tests)."""
    from PIL import Image

    fmt = format_for(path)
    if fmt == "png":
        return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in png_files(path)])
    if fmt == "gif":
        frames = []
        with Image.open(path) as im:
            for i in range(im.n_frames):
                im.seek(i)
                frames.append(np.asarray(im.convert("RGB")))
        return np.stack(frames)
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path))
    w, h = next(gen)["size"]
    return np.stack([np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in gen])


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
                                        callback=on_done, total=n)
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
