"""Timelines: easing, slerp, exact keyframes, loop closure, layer-limited segments, Z-slerp,
keyframe edits, noise lock, JSON. Tiny random generators only (no rendering here)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from explorer import Generator, stylegan2_config
from explorer.edits import move
from explorer.latents import Latent, latent_from_seed, z_from_seed
from explorer.noise import NoiseSpec
from explorer.plugins import DirectionRef, PluginRegistry
from explorer.timeline import (CLIP_FORMAT, EASINGS, EditStep, Keyframe, Segment, Timeline, ease,
                               even_positions, frame_positions, layer_rows, slerp)

INTERPS = ("linear", "slerp", "cubic")


def tiny(seed=0):
    torch.manual_seed(seed)
    return Generator(stylegan2_config(32, z_dim=16, w_dim=16, channel_base=256, channel_max=16,
                                      mapping_layers=1))


@pytest.fixture(scope="module")
def gen():
    return tiny()


@pytest.fixture(scope="module")
def registry():
    reg = PluginRegistry()
    reg.discover(folder=None)
    return reg


def seeds_timeline(gen, seeds=(3, 7, 12), **kw):
    return Timeline.from_seeds(gen, list(seeds), **kw)


# ----- easing and slerp --------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(EASINGS))
def test_easing_is_monotone_with_exact_ends(name):
    u = np.linspace(0.0, 1.0, 2001)
    y = ease(name, u)
    assert ease(name, 0.0) == 0.0 and ease(name, 1.0) == 1.0
    assert np.all(np.diff(y) >= 0), f"{name} is not monotone"
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert ease(name, -0.5) == 0.0 and ease(name, 2.0) == 1.0   # clipped outside [0, 1]


def test_easing_shapes_and_unknown_name():
    assert ease("ease_in", 0.5) == pytest.approx(0.125)
    assert ease("ease_out", 0.5) == pytest.approx(0.875)
    for sym in ("ease_in_out", "sine_in_out", "smoothstep", "smootherstep"):
        assert ease(sym, 0.5) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown easing"):
        ease("bounce", 0.5)


def test_slerp_keeps_norms_and_ends():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(64), rng.standard_normal(64)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    u = np.linspace(0, 1, 21)
    out = slerp(a, b, u)
    assert np.allclose(np.linalg.norm(out, axis=1), np.linalg.norm(a), rtol=1e-12)
    assert np.array_equal(out[0], a) and np.array_equal(out[-1], b)
    lerped = (1 - u[:, None]) * a + u[:, None] * b          # a straight line dips toward 0
    assert np.linalg.norm(lerped[10]) < 0.9 * np.linalg.norm(a)
    # different lengths: the length moves linearly, the direction along the great circle
    c = 3.0 * rng.standard_normal(64)
    out = slerp(a, c, u)
    want = (1 - u) * np.linalg.norm(a) + u * np.linalg.norm(c)
    assert np.allclose(np.linalg.norm(out, axis=1), want)
    # (anti)parallel and zero vectors do not blow up
    assert np.allclose(slerp(a, 2 * a, 0.5), 1.5 * a)
    assert np.all(np.isfinite(slerp(a, np.zeros(64), u)))


# ----- sampling and exactness --------------------------------------------------------------------
def test_frame_positions():
    assert np.array_equal(frame_positions(5, loop=False), [0, 0.25, 0.5, 0.75, 1.0])
    assert np.array_equal(frame_positions(4, loop=True), [0, 0.25, 0.5, 0.75])
    assert np.array_equal(frame_positions(1, loop=False), [0.0])
    assert even_positions(3, False) == [0.0, 0.5, 1.0] and even_positions(4, True) == [0, 0.25, 0.5, 0.75]


@pytest.mark.parametrize("interp", INTERPS)
def test_frame_count_and_ends_are_the_keyframes_exactly(gen, interp):
    tl = seeds_timeline(gen, psi=0.7, interp=interp, easing="ease_in_out", fps=10, duration=1.3)
    ws = np.stack(list(tl.frame_latents(model=gen)))
    assert ws.shape == (13, gen.info.num_ws, gen.info.w_dim) and ws.dtype == np.float32
    first, last = tl.keyframes[0].latent.ws, tl.keyframes[-1].latent.ws
    assert np.array_equal(ws[0], first) and np.array_equal(ws[-1], last)
    assert np.array_equal(ws[0], latent_from_seed(gen, 3, 0.7).ws)   # what a grid cell of seed 3 shows
    # a frame that falls on the middle keyframe is that keyframe, bit for bit
    mid = tl.resolve(gen).frames_ws(frame_positions(5, loop=False))[2]
    assert np.array_equal(mid, tl.keyframes[1].latent.ws)
    assert np.all(np.isfinite(ws))
    assert len(np.unique(ws.reshape(len(ws), -1), axis=0)) == len(ws)   # it actually moves


@pytest.mark.parametrize("interp", INTERPS)
def test_loop_closes_without_a_jump(gen, interp):
    tl = seeds_timeline(gen, interp=interp, loop=True, fps=12, duration=1.0)
    assert [k.position for k in tl.keyframes] == pytest.approx([0, 1 / 3, 2 / 3])
    r = tl.resolve(gen)
    n = tl.frame_count()
    ts = frame_positions(n, loop=True)
    frames = r.frames_ws(ts)
    assert np.array_equal(frames[0], tl.keyframes[0].latent.ws)
    assert np.array_equal(r.ws_at(1.0), frames[0])          # frame N = frame 0 of the next cycle
    assert np.array_equal(r.ws_at(2.25), r.ws_at(0.25))
    # the step from the last frame back to frame 0 is an ordinary step, not a cut
    steps = [np.abs(frames[i + 1] - frames[i]).max() for i in range(n - 1)]
    wrap = np.abs(frames[0] - frames[-1]).max()
    assert wrap <= 2.0 * max(steps)


def test_frames_do_not_depend_on_batching(gen):
    tl = seeds_timeline(gen, interp="slerp", easing="smoothstep", loop=True, fps=8, duration=1)
    r = tl.resolve(gen)
    ts = r.frame_positions()
    together = r.frames_ws(ts)
    alone = np.stack([r.ws_at(t) for t in ts])
    chunks = np.concatenate(list(tl.frame_latents(model=gen, chunk=3)))
    assert np.array_equal(together, alone) and np.array_equal(together, chunks)


def test_easing_reparametrises_the_segment(gen):
    a, b = latent_from_seed(gen, 1), latent_from_seed(gen, 2)
    tl = Timeline.from_latents([a, b], easing="ease_in")
    got = tl.frame_ws(0.5)
    want = (1 - 0.125) * a.ws.astype(np.float64) + 0.125 * b.ws
    assert np.allclose(got, want, atol=1e-6)


def test_holds_before_and_after_keyframes(gen):
    a, b = latent_from_seed(gen, 1), latent_from_seed(gen, 2)
    tl = Timeline([Keyframe(a, 0.25), Keyframe(b, 0.75)])
    r = tl.resolve()
    assert np.array_equal(r.ws_at(0.0), a.ws) and np.array_equal(r.ws_at(1.0), b.ws)
    assert np.allclose(r.ws_at(0.5), (a.ws.astype(np.float64) + b.ws) / 2, atol=1e-6)


# ----- interpolation kinds -----------------------------------------------------------------------
def test_slerp_between_seeds_is_the_z_path(gen):
    psi = 0.7
    tl = seeds_timeline(gen, seeds=(3, 7), psi=psi, interp="slerp")
    r = tl.resolve(gen)
    assert r.effective_interp == ["slerp"] and not r.notes
    z = slerp(z_from_seed(3, 16), z_from_seed(7, 16), 0.3).astype(np.float32)
    with torch.inference_mode():
        want = gen.map(torch.from_numpy(z)[None], psi=psi)[0].numpy()
    got = r.ws_at(0.3)
    assert np.allclose(got, want, atol=1e-5)
    lin = Timeline.from_seeds(gen, [3, 7], psi=psi).frame_ws(0.3, gen)
    assert np.abs(lin - got).max() > 1e-3          # the Z path really bends away from the W line


def test_slerp_falls_back_to_linear_for_faces_that_are_not_seeds(gen):
    a = latent_from_seed(gen, 3)
    b = Latent(ws=latent_from_seed(gen, 7).ws, recipe={"op": "import", "name": "photo"}, model=gen.fingerprint)
    tl = Timeline.from_latents([a, b], interp="slerp")
    r = tl.resolve(gen)
    assert r.effective_interp == ["linear"] and "linear in W" in r.notes[0]
    assert np.array_equal(r.ws_at(0.4), Timeline.from_latents([a, b]).frame_ws(0.4, gen))
    with pytest.raises(ValueError, match="needs the model"):
        seeds_timeline(gen, interp="slerp").resolve(None)


def test_cubic_passes_through_keyframes_smoothly(gen):
    lats = [latent_from_seed(gen, s) for s in (1, 2, 3, 4)]
    tl = Timeline.from_latents(lats, interp="cubic")
    r = tl.resolve(gen)
    ts = np.linspace(0, 1, 301)
    ws = r.frames_ws(ts).astype(np.float64)
    for k, p in enumerate(tl.keyframes):
        assert np.array_equal(r.ws_at(p.position), lats[k].ws)
    # C1 at an inner keyframe: the slopes on both sides agree (a polyline's would not)
    i = 100                                             # t = 1/3, keyframe 1
    left, right = ws[i] - ws[i - 1], ws[i + 1] - ws[i]
    assert np.abs(left - right).max() < 0.05 * np.abs(left).max()
    lin = Timeline.from_latents(lats).resolve(gen).frames_ws(ts).astype(np.float64)
    l_left, l_right = lin[i] - lin[i - 1], lin[i + 1] - lin[i]
    assert np.abs(l_left - l_right).max() > 10 * np.abs(left - right).max()
    # two keyframes: the cubic is the straight line
    two = Timeline.from_latents(lats[:2], interp="cubic").resolve(gen).ws_at(0.3)
    assert np.allclose(two, Timeline.from_latents(lats[:2]).resolve(gen).ws_at(0.3), atol=1e-5)


def test_layer_limited_segment_keeps_other_layers_exactly(gen):
    coarse, medium = gen.info.coarse, gen.info.medium
    a, b, c = (latent_from_seed(gen, s) for s in (1, 2, 3))
    tl = Timeline.from_latents([a, b, c], layers="coarse", loop=True)
    r = tl.resolve(gen)
    # keyframe 2 shows b's coarse styles with a's other layers (carried, no jump at the keyframe)
    assert np.array_equal(r.states[1][coarse.start:coarse.stop], b.ws[coarse.start:coarse.stop])
    assert np.array_equal(r.states[1][medium.start:medium.stop], a.ws[medium.start:medium.stop])
    frames = r.frames_ws(frame_positions(12, loop=True))
    for f in frames:
        assert np.array_equal(f[medium.start:medium.stop], a.ws[medium.start:medium.stop])
    assert np.array_equal(r.ws_at(1.0), a.ws)                  # and the loop closes on a
    assert layer_rows("coarse+medium", gen.info.num_ws, gen.info.groups).all()
    assert Segment(layers=["medium", "coarse"]).layers == "coarse+medium"
    assert Segment(layers=(0, 2)).layers == (0, 2)
    with pytest.raises(ValueError):
        Segment(layers="eyebrows")


def test_closing_segment_moves_layers_that_differ(gen):
    a, b = latent_from_seed(gen, 1), latent_from_seed(gen, 2)
    tl = Timeline([Keyframe(a, 0.0), Keyframe(b, 0.5, segment=Segment(layers="medium"))], loop=True)
    r = tl.resolve(gen)
    # the closing segment is limited to medium, but b's coarse styles must go back to a's too
    assert np.array_equal(r.ws_at(0.0), a.ws) and np.array_equal(r.ws_at(0.5), b.ws)
    late = r.ws_at(0.99)
    assert np.abs(late - a.ws).max() < 0.05 * np.abs(b.ws - a.ws).max()


# ----- edits, noise, models ----------------------------------------------------------------------
def test_keyframe_edits_run_through_the_registry(gen, registry):
    vec = np.zeros(16, np.float32)
    vec[0] = 1.0
    dirs = {"smile": DirectionRef("smile", vec)}
    face = latent_from_seed(gen, 5)
    tl = Timeline([Keyframe(face, 0.0), Keyframe(face, 1.0, edit=EditStep.move("smile", 2.0))],
                  noise=NoiseSpec("const"))
    r = tl.resolve(gen, registry, dirs)
    assert np.array_equal(r.states[1], move(face.ws, vec, 2.0))
    assert r.latents[1].recipe["plugin"] == "builtin.move_direction"
    mid = r.ws_at(0.5)
    assert np.allclose(mid, move(face.ws, vec, 1.0), atol=1e-6)     # aging: straight along the direction
    assert tl.keyframes[1].describe().endswith("+2 smile")
    # a seed moved by an edit still has its z: slerp towards another seed works
    other = Keyframe(latent_from_seed(gen, 9), 1.0)
    tl2 = Timeline([Keyframe(face, 0.0, edit=EditStep.move("smile", 1.0), segment=Segment("slerp")), other])
    r2 = tl2.resolve(gen, registry, dirs)
    assert r2.effective_interp == ["slerp"]
    assert np.array_equal(r2.ws_at(0.0), move(face.ws, vec, 1.0)) and np.array_equal(r2.ws_at(1.0), other.latent.ws)
    with pytest.raises(ValueError, match="needs the model"):
        tl.resolve(None, registry, dirs)


def test_noise_lock_and_nearest_keyframe_noise(gen):
    a = latent_from_seed(gen, 1).with_noise(NoiseSpec("random", 11))
    b = latent_from_seed(gen, 2).with_noise(NoiseSpec("none"))
    tl = Timeline.from_latents([a, b])
    r = tl.resolve(gen)
    assert r.noise_at(0.2) == NoiseSpec("random", 11) and r.noise_at(0.8) == NoiseSpec("none")
    tl.noise = NoiseSpec("random")                      # locked, no seed: one fixed seed for every frame
    specs = tl.resolve(gen).noise_for(tl.frame_positions(9))
    assert len(set(specs)) == 1 and specs[0].mode == "random" and specs[0].seed is not None
    assert tl.resolve(gen).noise_at(0.3) == specs[0]   # the same on a re-render


def test_recipes_are_replayed_on_another_model(gen):
    other = tiny(seed=1)
    tl = seeds_timeline(gen)
    r = tl.resolve(other)
    assert np.array_equal(r.states[0], latent_from_seed(other, 3).ws)
    assert any("replayed" in n for n in r.notes)


# ----- editing and files -------------------------------------------------------------------------
def test_move_keyframe_keeps_its_segment_and_order(gen):
    tl = seeds_timeline(gen, seeds=(1, 2, 3))
    tl.set_segment(0, interp="cubic", easing="sine_in_out")
    i = tl.move(0, 0.75)
    assert i == 1 and tl.keyframes[1].segment == Segment("cubic", "sine_in_out")
    assert [k.position for k in tl.keyframes] == [0.5, 0.75, 1.0]
    tl.move(2, seconds=1.0)
    assert tl.keyframes[0].position == pytest.approx(0.25)
    tl.set_loop(False)
    tl.spread()
    tl.set_loop(True)
    assert [k.position for k in tl.keyframes] == pytest.approx([0, 1 / 3, 2 / 3])


def test_json_roundtrip_gives_the_same_frames(gen, tmp_path):
    tl = seeds_timeline(gen, psi=0.8, interp="slerp", easing="smootherstep", loop=True, fps=24, duration=2.5)
    tl.set_segment(1, interp="cubic", layers="coarse")
    tl.noise = NoiseSpec("random", 4)
    tl.keyframes[2] = tl.keyframes[2].with_(edit=EditStep("builtin.truncation", {"psi": 0.5}), label="calm")
    path = tl.save(tmp_path / "t.json")
    back = Timeline.open(path)
    assert back.to_json() == tl.to_json()
    ts = tl.frame_positions(20)
    assert np.array_equal(tl.resolve(gen).frames_ws(ts), back.resolve(gen).frames_ws(ts))
    # an export sidecar opens as its timeline
    assert Timeline.from_json({"format": CLIP_FORMAT, "timeline": tl.to_json()}).to_json() == tl.to_json()


def test_bad_timelines_are_refused(gen, tmp_path):
    a = latent_from_seed(gen, 1)
    with pytest.raises(ValueError, match="position"):
        Keyframe(a, 1.5)
    with pytest.raises(ValueError, match="interpolation"):
        Segment("spline")
    with pytest.raises(ValueError, match="duration"):
        Timeline([Keyframe(a)], duration=0)
    unspread = Timeline.from_latents([a, a])              # positions 0 and 1
    unspread.set_loop(True, respace=False)
    with pytest.raises(ValueError, match="before position 1"):
        unspread.resolve(gen)
    with pytest.raises(ValueError, match="no keyframes"):
        Timeline().resolve(gen)
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a timeline"):
        Timeline.open(tmp_path / "x.json")
    with pytest.raises(ValueError, match="shapes"):
        big = Latent(ws=np.zeros((3, 16), np.float32), recipe={"op": "import"}, model="x")
        Timeline.from_latents([a, big]).resolve()


def test_cubic_eases_layers_into_a_hold(gen):
    """Coarse moves 0 -> 1, then only medium moves: the coarse rows arrive at keyframe 1 with zero
    speed (no kink, no overshoot past the held value)."""
    coarse = gen.info.coarse
    a, b, c = (latent_from_seed(gen, s) for s in (1, 2, 3))
    tl = Timeline([Keyframe(a, 0.0, segment=Segment("cubic", layers="coarse")),
                   Keyframe(b, 0.5, segment=Segment("cubic", layers="medium")), Keyframe(c, 1.0)])
    r = tl.resolve(gen)
    ts = np.linspace(0, 1, 401)
    rows = r.frames_ws(ts)[:, coarse.start:coarse.stop].astype(np.float64)
    k = 200                                              # t = 0.5
    arrive = np.abs(rows[k] - rows[k - 1]).max()
    typical = np.abs(rows[100] - rows[99]).max()
    assert arrive < 0.02 * typical
    assert np.all(rows[k:] == rows[k])                   # held exactly afterwards
    lo, hi = np.minimum(a.ws, b.ws)[coarse.start:coarse.stop], np.maximum(a.ws, b.ws)[coarse.start:coarse.stop]
    assert np.all(rows[:k] >= lo - 1e-5) and np.all(rows[:k] <= hi + 1e-5)


# ----- hostile and broken timeline files ----------------------------------------------------------
@pytest.mark.parametrize("doc", [
    '{"fps": 1e9, "duration": 4}', '{"fps": 30, "duration": 1e12}', '{"loop": "no"}', '{"fps": "fast"}',
    '{"keyframes": {"a": 1}}', '{"keyframes": [1]}', '{"version": "1"}', '[' * 5000 + ']' * 5000,
    '{"format": "latent-explorer/clip", "timeline": 5}', '{"keyframes": [{"position": 0.5}]}',
])
def test_broken_timeline_files_are_one_clear_error(tmp_path, doc):
    from explorer.errors import FileProblem
    from explorer.timeline import TimelineError

    path = tmp_path / "bad.timeline.json"
    path.write_text(doc)
    with pytest.raises(TimelineError, match="bad.timeline.json") as info:
        Timeline.open(path)
    assert isinstance(info.value, FileProblem)


def test_sidecar_export_settings_are_bounded(tmp_path):
    from explorer.animation import read_sidecar
    from explorer.timeline import TimelineError

    tl = Timeline([], duration=2.0, fps=10.0)
    for settings in ({"frames": 10 ** 12}, {"size": 10 ** 6}, {"fps": float("nan")}, {"frames": "all"}):
        path = tmp_path / "clip.mp4.timeline.json"
        path.write_text(json.dumps({"format": "latent-explorer/clip", "version": 1, "timeline": tl.to_json(),
                                    "export": settings}).replace("NaN", "1e999"))
        with pytest.raises(TimelineError, match="clip.mp4.timeline.json"):
            read_sidecar(path)
    path.write_text(json.dumps({"format": "latent-explorer/clip", "version": 1, "timeline": tl.to_json(),
                                "export": {"frames": 20, "size": 64}}))
    clips, settings = read_sidecar(path)
    assert settings == {"frames": 20, "size": 64} and clips[0].fps == 10.0
