"""Clip export: writers read back with the right frame count and size, frames match the keyframes,
grids, the render-service path, progress/ETA, cancel and failure leave nothing, sidecars re-render,
and the `animate` command. Tiny generators, few frames, small sizes."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from explorer import to_uint8
from explorer.animation import (ExportCancelled, ExportError, ExportJob, GifWriter, Mp4Writer, export_clip,
                                format_for, make_writer, png_files, png_layout, probe_clip, read_clip,
                                read_sidecar, sidecar_path)
from explorer.commands_animate import main as animate_main
from explorer.noise import NoiseSpec
from explorer.render import RenderService
from explorer.timeline import Timeline

WAIT = 60.0


@pytest.fixture(scope="module")
def gen(make_generator):
    return make_generator(32, 16)


@pytest.fixture(scope="module")
def service(gen):
    svc = RenderService(gen, device="cpu", num_threads=0)
    yield svc
    svc.shutdown()


def clip(gen, seeds=(3, 7, 12), **kw):
    kw.setdefault("fps", 10)
    kw.setdefault("duration", 0.8)
    return Timeline.from_seeds(gen, list(seeds), **kw)


def render(gen, ws, noise="const"):
    with torch.inference_mode():
        return to_uint8(gen.synthesize(torch.from_numpy(np.array(ws)[None]), noise_mode=noise))[0]


def close(a, b, levels=1):
    """Equal up to `levels`: batches of other sizes round the convolutions differently (~1e-6)."""
    return a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= levels


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


# ----- names -------------------------------------------------------------------------------------
def test_format_and_sidecar_names(tmp_path):
    assert format_for("a/clip.MP4") == "mp4" and format_for("x.webm") == "webm" and format_for("x.gif") == "gif"
    assert format_for("frames") == "png" and format_for("shot_%04d.png") == "png"
    assert format_for("clip.avi", "gif") == "gif"
    with pytest.raises(ValueError, match="format"):
        format_for("clip.avi")
    assert sidecar_path("out/clip.mp4") == sidecar_path("out/clip.mp4", "mp4")
    assert str(sidecar_path("out/clip.mp4")).endswith("clip.mp4.timeline.json")
    assert sidecar_path("out/frames").name == "frames.timeline.json"
    assert sidecar_path("out/shot_%04d.png").name == "shot.timeline.json"
    assert png_layout("out/shot.png")[1] == "shot_%05d.png"
    with pytest.raises(ValueError, match="frame number"):
        png_layout("out/a%d_%d.png")


# ----- formats -----------------------------------------------------------------------------------
def test_png_sequence_frames_are_the_keyframes(gen, tmp_path):
    tl = clip(gen)
    out = tmp_path / "frames"
    res = export_clip(gen, tl, out)
    assert res.frames == 8 and res.format == "png" and (res.width, res.height) == (32, 32)
    files = png_files(out)
    assert [f.name for f in files] == [f"frame_{i:05d}.png" for i in range(8)]
    frames = read_clip(out)
    assert close(frames[0], render(gen, tl.keyframes[0].latent.ws))
    assert close(frames[-1], render(gen, tl.keyframes[-1].latent.ws))
    assert leftovers(tmp_path) == ["frames", "frames.timeline.json"]


def test_mp4_reads_back_with_frame_count_and_size(gen, tmp_path):
    out = tmp_path / "clip.mp4"
    res = export_clip(gen, clip(gen, loop=True), out, size=24, frames=7, fps=12)
    info = probe_clip(out)
    assert (info["frames"], info["width"], info["height"]) == (7, 24, 24) and info["fps"] == pytest.approx(12)
    # odd sizes are padded by one edge pixel (yuv420p needs even sides)
    res = export_clip(gen, clip(gen), tmp_path / "odd.mp4", size=15, frames=3)
    assert probe_clip(res.path)["width"] == 16 and any("padded" in n for n in res.notes)
    assert leftovers(tmp_path) == ["clip.mp4", "clip.mp4.timeline.json", "odd.mp4", "odd.mp4.timeline.json"]


def test_gif_loops_and_reads_back(gen, tmp_path):
    from PIL import Image

    out = tmp_path / "clip.gif"
    export_clip(gen, clip(gen, loop=True, fps=30), out, frames=9)
    info = probe_clip(out)
    assert (info["frames"], info["width"], info["height"]) == (9, 32, 32)
    with Image.open(out) as im:
        assert im.info["loop"] == 0
    assert info["fps"] == pytest.approx(30, rel=0.02)     # delays of 3 and 4 cs average 1/30 s
    w = GifWriter()
    w.fps = 30
    assert sum(w.durations_ms(30)) == 1000


def test_webm_reads_back(gen, tmp_path):
    out = tmp_path / "clip.webm"
    export_clip(gen, clip(gen), out, size=16, frames=4)
    info = probe_clip(out)
    assert (info["frames"], info["width"], info["height"]) == (4, 16, 16)


def test_png_pattern_replaces_an_older_longer_clip(gen, tmp_path):
    pattern = tmp_path / "shot_%03d.png"
    export_clip(gen, clip(gen), pattern, frames=5, sidecar=False)
    (tmp_path / "keep.txt").write_text("mine")
    export_clip(gen, clip(gen), pattern, frames=3)
    assert leftovers(tmp_path) == ["keep.txt", "shot.timeline.json", "shot_000.png", "shot_001.png", "shot_002.png"]


# ----- grid, service, progress -------------------------------------------------------------------
def test_service_export_matches_direct_export_and_tiles_a_grid(gen, service, tmp_path):
    a, b = clip(gen), clip(gen, seeds=(1, 2), loop=True)
    b.noise = NoiseSpec("random", 5)
    seen = []
    res = export_clip(service, a, tmp_path / "grid", grid=[b], size=16, frames=6,
                      progress=lambda done, total, eta: seen.append((done, total, eta)))
    assert (res.width, res.height) == (32, 16)
    assert [s[0] for s in seen] == list(range(1, 7)) and all(s[1] == 6 for s in seen)
    assert all(isinstance(s[2], float) and s[2] >= 0 for s in seen) and seen[-1][2] == 0.0
    direct = export_clip(gen, [a, b], tmp_path / "direct", size=16, frames=6)
    x, y = read_clip(res.path), read_clip(direct.path)
    assert x.shape == (6, 16, 32, 3) and close(x, y)
    # the right half is clip b with its locked random noise
    with torch.inference_mode():
        want = to_uint8(torch.nn.functional.interpolate(
            gen.synthesize(torch.from_numpy(np.array(b.keyframes[0].latent.ws)[None]), noise_mode="random", noise_seed=[5]),
            size=(16, 16), mode="bilinear", antialias=True, align_corners=False))[0]
    assert close(x[0][:, 16:], want)
    clips, settings = read_sidecar(res.sidecar)
    assert len(clips) == 2 and settings["frames"] == 6 and settings["size"] == 16
    assert settings["model"]["fingerprint"] == gen.fingerprint and settings["grid_cols"] == 2


def test_sidecar_renders_again_at_another_size(gen, tmp_path):
    tl = clip(gen, interp="slerp", easing="smoothstep", loop=True)
    first = export_clip(gen, tl, tmp_path / "a.gif", frames=5)
    again = Timeline.open(first.sidecar)
    doc = json.loads(first.sidecar.read_text())
    assert doc["timeline"]["keyframes"][1]["latent"]["recipe"]["seed"] == 7
    res = export_clip(gen, again, tmp_path / "b", size=16, frames=5)
    big, small = read_clip(tmp_path / "b"), read_clip(first.path)
    assert big.shape == (5, 16, 16, 3) and small.shape == (5, 32, 32, 3)
    assert np.array_equal(tl.resolve(gen).frames_ws(tl.frame_positions(5)),
                          again.resolve(gen).frames_ws(again.frame_positions(5)))
    assert res.sidecar.exists()


# ----- cancel and failure ------------------------------------------------------------------------
@pytest.mark.parametrize("via", ["direct", "service"])
@pytest.mark.parametrize("name", ["clip.mp4", "clip.gif", "frames"])
def test_cancel_leaves_no_file(gen, service, tmp_path, via, name):
    stop = threading.Event()

    def progress(done, total, eta):
        if done == 2:
            stop.set()

    target = tmp_path / name
    with pytest.raises(ExportCancelled):
        export_clip(service if via == "service" else gen, clip(gen), target, frames=8, progress=progress,
                    cancel=stop)
    assert leftovers(tmp_path) == []
    assert service.idle(WAIT)


def test_cancel_keeps_an_older_file_untouched(gen, tmp_path):
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"an older clip")
    with pytest.raises(ExportCancelled):
        export_clip(gen, clip(gen), target, frames=4, cancel=lambda: True)
    assert target.read_bytes() == b"an older clip" and leftovers(tmp_path) == ["clip.mp4"]


class Broken:
    """A generator whose synthesis fails on the third batch."""

    def __init__(self, g):
        self.g, self.info, self.fingerprint, self.w_avg = g, g.info, g.fingerprint, g.w_avg
        self.device, self.calls = g.device, 0

    def map(self, *a, **k):
        return self.g.map(*a, **k)

    def noise_inputs(self):
        return self.g.noise_inputs()

    def synthesize(self, ws, **kw):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("GPU on fire")
        return self.g.synthesize(ws, **kw)


def test_render_failure_leaves_no_file(gen, tmp_path):
    with pytest.raises(ExportError, match="GPU on fire"):
        export_clip(Broken(gen), clip(gen), tmp_path / "clip.webm", frames=8, batch=2)
    assert leftovers(tmp_path) == []


def test_writer_abort_and_encoder_failure(tmp_path):
    w = make_writer("mp4", extra_args=["-no-such-option", "1"]).open(tmp_path / "x.mp4", 10, (8, 8))
    with pytest.raises(ExportError, match="ffmpeg"):
        for _ in range(3):
            w.write(np.zeros((8, 8, 3), np.uint8))
        w.close()
    assert leftovers(tmp_path) == []
    with Mp4Writer().open(tmp_path / "y.mp4", 10, (8, 8)) as w:
        w.write(np.zeros((8, 8, 3), np.uint8))
    assert leftovers(tmp_path) == ["y.mp4"]
    with pytest.raises(ValueError):
        make_writer("gif").open(tmp_path / "z.gif", 10, (8, 8)).write(np.zeros((4, 4, 3), np.uint8))


# ----- background job ----------------------------------------------------------------------------
def test_export_job_reports_progress_and_cancels(gen, service, tmp_path):
    ticks = []
    job = ExportJob(service, clip(gen), tmp_path / "clip.gif", frames=6, on_progress=lambda j: ticks.append(j.progress))
    res = job.wait(WAIT)
    assert job.status == "ok" and res.frames == 6 and ticks[-1][:2] == (6, 6)
    gate = threading.Event()
    job = ExportJob(gen, clip(gen), tmp_path / "other.mp4", frames=50, batch=1,
                    on_progress=lambda j: gate.set())
    assert gate.wait(WAIT)
    job.cancel()
    assert job.wait(WAIT) is None and job.status == "cancelled"
    assert leftovers(tmp_path) == ["clip.gif", "clip.gif.timeline.json"]


def test_bad_export_settings(gen, tmp_path):
    with pytest.raises(ValueError, match="size"):
        export_clip(gen, clip(gen), tmp_path / "a.gif", size=9 * gen.info.resolution)
    with pytest.raises(ValueError, match="frame count"):
        export_clip(gen, clip(gen), tmp_path / "a.gif", frames=0)
    assert leftovers(tmp_path) == []


# ----- command line ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(gen, tmp_path_factory):
    from explorer.checkpoints.native import save_native

    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_native(gen, path)
    return path


def test_animate_command(model_file, tmp_path, capsys):
    out = tmp_path / "clip.gif"
    assert animate_main(["animate", "--model", str(model_file), "--seeds", "3,7,12", "--frames", "6", "--loop",
                         "--interp", "slerp", "--easing", "smoothstep", "--size", "16", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "wrote" in captured.out and "6/6 frames" in captured.err
    assert probe_clip(out)["frames"] == 6
    clips, settings = read_sidecar(sidecar_path(out))
    assert clips[0].loop and [k.latent.recipe["seed"] for k in clips[0].keyframes] == [3, 7, 12]
    assert clips[0].keyframes[0].segment.interp == "slerp" and clips[0].noise == NoiseSpec("const")
    # --timeline re-renders the sidecar, here as PNG frames at another size
    frames = tmp_path / "again"
    assert animate_main(["animate", "--model", str(model_file), "--timeline", str(sidecar_path(out)),
                         "--frames", "6", "--quiet", "--out", str(frames)]) == 0
    assert probe_clip(frames)["frames"] == 6 and probe_clip(frames)["width"] == 32


@pytest.mark.parametrize("argv, message", [
    ([], "either --seeds"),
    (["--seeds", "3", "--timeline", "t.json"], "either --seeds"),
    (["--seeds", "3,x"], "not a seed"),
    (["--seeds", "3", "--size", "64"], "--size"),
    (["--seeds", "3", "--easing", "wobbly"], "unknown easing"),
    (["--seeds", "3", "--layers", "ears"], "layer group"),
    (["--timeline", "missing.json"], "does not exist"),
])
def test_animate_bad_input_is_one_clear_line(model_file, tmp_path, capsys, argv, message):
    out = tmp_path / "clip.mp4"
    assert animate_main(["animate", "--model", str(model_file), *argv, "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert not out.exists()


def test_animate_unknown_format(model_file, tmp_path, capsys):
    assert animate_main(["animate", "--model", str(model_file), "--seeds", "3", "--out",
                         str(tmp_path / "clip.avi")]) == 1
    assert "format" in capsys.readouterr().err


def test_image_edits_of_the_nearest_keyframe_are_applied(gen, tmp_path):
    from explorer.plugins import PluginRegistry

    reg = PluginRegistry()
    reg.discover(folder=None)
    tl = clip(gen, seeds=(3, 7))
    grey = reg.apply("builtin.colour_grade", [tl.keyframes[0].latent], {"saturation": 0.0})[0]
    tl.keyframes[0] = tl.keyframes[0].with_(latent=grey)
    export_clip(gen, tl, tmp_path / "frames", frames=4, registry=reg)
    frames = read_clip(tmp_path / "frames").astype(int)
    for f in frames[:2]:        # nearest to the grey keyframe
        assert np.abs(f[..., 0] - f[..., 1]).max() <= 1 and np.abs(f[..., 1] - f[..., 2]).max() <= 1
    assert np.abs(frames[3][..., 0] - frames[3][..., 1]).max() > 5


def test_eta_counts_the_waits_between_render_batches(monkeypatch):
    from explorer import animation

    clock = [100.0]
    monkeypatch.setattr(animation.time, "perf_counter", lambda: clock[0])
    eta = animation._Eta()
    got = []
    for burst in range(4):             # a batch of 10 frames every 2 s, encoded in 0.01 s each
        clock[0] += 2.0
        for i in range(10):
            clock[0] += 0.01
            got.append(eta.update(burst * 10 + i + 1, 100))
    # ~2.1 s per 10 frames: 60 frames left ~ 12.6 s (a burst-only pace would say 0.6 s)
    assert got[-1] == pytest.approx(60 * 2.1 / 10, rel=0.1)
    assert all(g is not None for g in got)


def test_exports_follow_the_umask_and_stale_temps_are_cleaned(gen, tmp_path):
    import os
    import time

    from explorer.export import clean_stale_temps, save_png

    old = os.umask(0o022)
    try:
        res = export_clip(gen, clip(gen), tmp_path / "clip.mp4", size=16, frames=3)
        save_png(tmp_path / "face.png", np.zeros((4, 4, 3), np.uint8), {"a": 1})
        from explorer import Generator, stylegan2_config
        from explorer.checkpoints import save_native
        save_native(Generator(stylegan2_config(8, z_dim=4, w_dim=4, channel_base=16, channel_max=4,
                                               mapping_layers=1)), tmp_path / "model.safetensors")
        frames = export_clip(gen, clip(gen), tmp_path / "frames", fmt="png", size=16, frames=2)
    finally:
        os.umask(old)
    for p in (res.path, tmp_path / "clip.mp4.timeline.json", tmp_path / "face.png", tmp_path / "model.safetensors"):
        assert p.stat().st_mode & 0o777 == 0o644, p        # mkstemp's 0600 used to leak into clips
    assert frames.path.stat().st_mode & 0o777 == 0o755

    # what kill -9 mid-write leaves: our temp names, old enough not to belong to a live write
    stale = [tmp_path / ".clip.abcd1234.tmp.mp4", tmp_path / ".seed0001.a1b2c3d4.png.tmp",
             tmp_path / ".frames.zz_9yy8x.tmp"]
    stale[0].write_bytes(b"x")
    stale[1].write_bytes(b"x")
    stale[2].mkdir()
    (stale[2] / "frame_0001.png").write_bytes(b"x")
    fresh = tmp_path / ".clip.qwertyui.tmp.mp4"
    fresh.write_bytes(b"x")
    mine = tmp_path / ".hidden-notes.txt"
    mine.write_text("not ours")
    past = time.time() - 7200
    for p in stale + [mine]:
        os.utime(p, (past, past))
    removed = clean_stale_temps(tmp_path)
    assert sorted(removed) == sorted(stale)
    assert fresh.exists() and mine.exists() and res.path.exists()
    # the next export into that folder does it by itself
    os.utime(fresh, (past, past))
    export_clip(gen, clip(gen), tmp_path / "again.gif", size=16, frames=2)
    assert not fresh.exists()


def test_export_above_the_models_size_is_lanczos_upscaled_and_says_so(gen, tmp_path):
    from PIL import Image

    res = gen.info.resolution
    native = export_clip(gen, clip(gen), tmp_path / "native", fmt="png", frames=2)
    big = export_clip(gen, clip(gen), tmp_path / "big", fmt="png", size=4 * res, frames=2)
    assert any("upscaled" in n and "Lanczos" in n for n in big.notes)
    assert not any("upscaled" in n for n in native.notes)
    a = np.asarray(Image.open(sorted(native.path.glob("*.png"))[0]))
    b = np.asarray(Image.open(sorted(big.path.glob("*.png"))[0]))
    assert b.shape == (4 * res, 4 * res, 3)
    ref = np.asarray(Image.fromarray(a).resize((4 * res, 4 * res), Image.LANCZOS))
    assert np.abs(ref.astype(int) - b.astype(int)).max() <= 1
