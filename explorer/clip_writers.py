"""Clip files: frame writers (PNG sequence, GIF, MP4, WebM), output names and sidecars' paths,
frame helpers, and reading clips back. The export that renders timelines into them is
`explorer.animation`.

Every writer works under a temp name beside the target and renames it into place only when the
clip is complete: a cancelled or failed export leaves nothing under the chosen name.

Video goes through the ffmpeg binary that imageio-ffmpeg ships (its `write_frames` helper gives no
exit status and cannot be killed from outside, which atomic writes and cancel need, so the pipe is
ours). No Qt here.
"""
from __future__ import annotations

import functools
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from .export import AtomicFile, AtomicFolder, temp_path_beside

log = logging.getLogger(__name__)

FORMATS = ("mp4", "webm", "gif", "png")
EXTENSIONS = {".mp4": "mp4", ".m4v": "mp4", ".webm": "webm", ".gif": "gif", ".png": "png"}
SIDECAR_SUFFIX = ".timeline.json"
SIDECAR_VERSION = 1
DEFAULT_PNG_PATTERN = "frame_%05d.png"
GIF_MAX_FPS = 50.0              # GIF delays are whole centiseconds; players slow down delays < 2 cs


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
