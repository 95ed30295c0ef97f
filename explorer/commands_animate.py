"""`latent-explorer animate`: render a clip from seeds or a saved timeline, headless.

    latent-explorer animate --model PATH --seeds 3,7,12 --seconds 4 --fps 30 --loop --out clip.mp4
    latent-explorer animate --model PATH --timeline clip.mp4.timeline.json --size 128 --out small.gif

The format comes from --out: .mp4, .webm, .gif, a folder or a frame pattern (shot_%04d.png) for
PNG frames. Every clip gets a sidecar `<out>.timeline.json` that --timeline reads back.
"""
from __future__ import annotations

import argparse
import sys
import time

from .noise import NOISE_MODES

EASING_HELP = "linear, ease_in, ease_out, ease_in_out, sine_in, sine_out, sine_in_out, smoothstep, smootherstep"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class ProgressLine:
    """One self-overwriting line on stderr: frames, percent, speed, time left (at most 5 updates/s)."""

    def __init__(self, stream=None, interval: float = 0.2):
        self.stream = stream or sys.stderr
        self.interval = interval
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int, eta: float | None) -> None:
        now = time.perf_counter()
        if done < total and now - self.last < self.interval:
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        self.stream.write(f"\ranimate: {done}/{total} frames {100 * done // max(total, 1):3d}%  "
                          f"{rate:5.1f} frames/s  ETA {_clock(eta if done < total else 0.0)} ")
        self.stream.flush()
        self.shown = True

    def end(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False


def _build_timelines(args, gen):
    """(timelines, notes) from --seeds or --timeline plus the overriding flags."""
    from .latents import parse_seeds
    from .noise import NoiseSpec
    from .timeline import Segment, Timeline

    if bool(args.seeds) == bool(args.timeline):
        raise ValueError("give either --seeds (e.g. 3,7,12) or --timeline FILE")
    if args.timeline:
        from pathlib import Path

        from .animation import read_sidecar

        if not Path(args.timeline).is_file():
            raise ValueError(f"timeline file {args.timeline} does not exist")
        try:
            clips, _ = read_sidecar(args.timeline)      # an export's sidecar: all clips of its grid
        except (ValueError, KeyError):
            clips = [Timeline.open(args.timeline)]
        for tl in clips:
            if args.loop is not None:
                tl.set_loop(args.loop)
            if args.seconds is not None:
                tl.duration = _positive(args.seconds, "--seconds")
            if args.fps is not None:
                tl.fps = _positive(args.fps, "--fps")
            changes = {k: v for k, v in (("interp", args.interp), ("easing", args.easing),
                                         ("layers", args.layers)) if v is not None}
            if changes:
                tl.set_all_segments(**changes)
    else:
        seeds = parse_seeds(args.seeds)
        seg = Segment(args.interp or "linear", args.easing or "linear", args.layers or "all")
        seconds = args.seconds
        fps = args.fps
        if seconds is None:
            seconds = args.frames / (fps or 30.0) if args.frames else 4.0
        if fps is None:
            fps = args.frames / seconds if (args.frames and args.seconds) else 30.0
        tl = Timeline.from_seeds(gen, seeds, psi=args.psi, interp=seg.interp, easing=seg.easing, layers=seg.layers,
                                 duration=_positive(seconds, "--seconds"), fps=_positive(fps, "--fps"),
                                 loop=bool(args.loop))
        if args.noise is None:
            args.noise = "const"
        clips = [tl]
    if args.noise is not None:
        for tl in clips:
            tl.noise = NoiseSpec(args.noise, args.noise_seed if args.noise == "random" else None)
    return clips


def _positive(value: float, flag: str) -> float:
    if not value > 0:
        raise ValueError(f"{flag} must be positive, got {value:g}")
    return float(value)


def cmd_animate(args) -> int:
    from . import load_generator
    from .animation import ExportCancelled, ExportError, export_clip, format_for
    from .render import RenderService

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.frames is not None and args.frames < 1:
        raise ValueError(f"--frames must be at least 1, got {args.frames}")
    fmt = format_for(args.out)   # a bad --out fails before the model loads
    gen = load_generator(args.model)
    if args.size is not None and not 1 <= args.size <= gen.info.resolution:
        raise ValueError(f"--size must be 1..{gen.info.resolution} (the model's resolution), got {args.size}")
    clips = _build_timelines(args, gen)
    directions = None
    if args.directions:
        from .directions import load_directions

        directions = {d.name: d for d in load_directions(args.directions, model=gen.fingerprint)}
    options = {}
    if args.crf is not None:
        options["crf"] = args.crf
    if args.gif_quality:
        options["quality"] = args.gif_quality
    device = None if args.device in (None, "auto") else args.device
    bar = ProgressLine()
    service = RenderService(gen, device=device, cache_bytes=0, num_threads=args.threads)
    try:
        result = export_clip(service, clips, args.out, fmt=fmt, size=args.size, frames=args.frames,
                             grid_cols=args.grid_cols, progress=None if args.quiet else bar,
                             directions=directions, writer_options=options)
    except KeyboardInterrupt:
        bar.end()
        print(f"cancelled; nothing written to {args.out}", file=sys.stderr)
        return 130
    except ExportCancelled as e:
        bar.end()
        print(f"cancelled ({e}); nothing written to {args.out}", file=sys.stderr)
        return 1
    except ExportError as e:
        bar.end()
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        service.shutdown()
    bar.end()
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    side = f" + {result.sidecar}" if result.sidecar else ""
    print(f"wrote {result.path} ({result.frames} frames, {result.width}x{result.height}, {result.fps:g} fps, "
          f"{result.seconds:.1f} s){side}")
    return 0


def register(sub) -> None:
    a = sub.add_parser("animate", help="render a clip (MP4, WebM, GIF, PNG frames) from seeds or a timeline",
                       description=__doc__.split("\n\n")[0],
                       epilog="Example: latent-explorer animate --model m.pkl --seeds 3,7,12 --seconds 4 "
                              "--fps 30 --loop --out clip.mp4")
    a.add_argument("--model", default="default", help="checkpoint path or 'default'")
    a.add_argument("--seeds", default=None, help="keyframe seeds, equally spaced, e.g. 3,7,12 or 0-4")
    a.add_argument("--timeline", default=None, help="a saved timeline or an export's .timeline.json sidecar")
    a.add_argument("--seconds", type=float, default=None, help="clip length (one cycle with --loop); default 4")
    a.add_argument("--fps", type=float, default=None, help="frames per second (default 30)")
    a.add_argument("--frames", type=int, default=None, help="frame count (instead of seconds x fps)")
    a.add_argument("--loop", action=argparse.BooleanOptionalAction, default=None,
                   help="close the loop: the clip repeats without a jump")
    a.add_argument("--interp", choices=["linear", "slerp", "cubic"], default=None,
                   help="linear in W (default), slerp in Z (seeds), cubic (Catmull-Rom in W)")
    a.add_argument("--easing", default=None, help=EASING_HELP)
    a.add_argument("--layers", default=None,
                   help="layers that change: coarse, medium, fine, all (default), or e.g. coarse+medium")
    a.add_argument("--psi", type=float, default=1.0, help="truncation psi of the seeds (1 = none)")
    a.add_argument("--size", type=int, default=None, help="frame side in pixels (default: model resolution)")
    a.add_argument("--noise", choices=list(NOISE_MODES), default=None,
                   help="lock the noise for the whole clip (seeds default: const)")
    a.add_argument("--noise-seed", type=int, default=0, help="seed of --noise random")
    a.add_argument("--directions", default=None, help="direction file for keyframe edits in --timeline")
    a.add_argument("--grid-cols", type=int, default=None, help="columns of a grid of clips (from --timeline)")
    a.add_argument("--crf", type=int, default=None, help="MP4/WebM quality (lower is better; 18 / 32 default)")
    a.add_argument("--gif-quality", choices=["fast", "best"], default=None, help="GIF palette quality")
    a.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    a.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: the render service's; 1 is best on a busy 2-core machine)")
    a.add_argument("--quiet", action="store_true", help="no progress line")
    a.add_argument("--out", required=True,
                   help="clip.mp4, clip.webm, clip.gif, a folder, or frame_%%04d.png for PNG frames")
    a.set_defaults(func=cmd_animate)


def main(argv: list[str] | None = None) -> int:
    """Run `animate` on its own (`python -m explorer.commands_animate animate ...`) with the CLI's errors."""
    from .checkpoints import CheckpointError

    p = argparse.ArgumentParser(prog="latent-explorer")
    register(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except (CheckpointError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
