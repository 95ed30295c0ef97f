"""Render service: priorities, preemption, coalescing, tokens, cache, OOM split, errors, shutdown.

Tiny random generators only; the worker is held with pause() or a gate so orderings are exact.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer import Generator, stylegan3_config, to_uint8
from explorer.render import (NoiseSpec, Priority, RenderCache, RenderService, Status, default_num_threads,
                             default_precision, is_oom, pick_device)

WAIT = 20.0



def assert_images_close(a, b) -> None:
    """uint8 images equal up to one level: batches of other sizes round convs differently (~1e-6)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1

from .conftest import tiny_generator  # noqa: E402


def tiny(seed=0, res=32):
    return tiny_generator(res, 32, seed=seed, channels=32, mapping_layers=2)


@pytest.fixture(scope="module")
def gen():
    return tiny()


def latents(g, n, seed=1):
    z = torch.randn(n, g.info.z_dim, generator=torch.Generator().manual_seed(seed))
    return g.map(z).numpy()


class Probe:
    """Generator wrapper: records batch sizes; can block on a gate, fake OOM, or fail on a marker."""

    def __init__(self, g):
        self.g, self.info, self.fingerprint = g, g.info, g.fingerprint
        self.calls: list[int] = []
        self.entered = threading.Event()
        self.gate: threading.Event | None = None
        self.oom_above: int | None = None
        self.fail_value: float | None = None

    @property
    def device(self):
        return self.g.device

    def noise_inputs(self):
        return self.g.noise_inputs()

    def make_noise(self, n, seed=None):
        return self.g.make_noise(n, seed)

    def synthesize(self, ws, **kw):
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(WAIT)
        if self.oom_above is not None and ws.shape[0] > self.oom_above:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        if self.fail_value is not None and bool((ws == self.fail_value).flatten(1).all(1).any()):
            raise ValueError("boom")
        self.calls.append(ws.shape[0])
        return self.g.synthesize(ws, **kw)


def recorder():
    log = []
    lock = threading.Lock()

    def cb_for(name):
        def cb(result):
            with lock:
                log.append((name, result.status))
        return cb
    return log, cb_for


# ----- basics -----------------------------------------------------------------------------
def test_renders_what_the_generator_renders(gen, svc_factory):
    ws = latents(gen, 5)
    svc = svc_factory(gen)
    res = svc.submit(ws).wait(WAIT)
    assert res.ok and res.count == 5 and res.from_cache == [False] * 5
    ref = to_uint8(gen.synthesize(torch.from_numpy(ws)))
    # The batch the service forms may differ from ours; conv kernels round differently per batch
    # size (~1e-6), which can flip a uint8 level.
    assert np.abs(np.stack(res.images).astype(int) - ref.astype(int)).max() <= 1
    assert res.render_ms > 0 and res.latency_ms >= res.render_ms * 0.99

    small = svc.submit(ws[:2], size=16).wait(WAIT)  # thumbnails: antialiased downscale in the worker
    down = F.interpolate(gen.synthesize(torch.from_numpy(ws[:2])), size=(16, 16), mode="bilinear",
                         antialias=True, align_corners=False)
    assert small.images[0].shape == (16, 16, 3)
    assert np.abs(np.stack(small.images).astype(int) - to_uint8(down).astype(int)).max() <= 1


def test_random_noise_does_not_depend_on_the_batch(gen, svc_factory):
    ws = latents(gen, 3)
    svc = svc_factory(gen, max_batch=8)
    specs = [NoiseSpec("random", seed=s) for s in (11, 12, 13)]
    together = svc.submit(ws, noise=specs, cache=False).wait(WAIT)
    alone = svc.submit(ws[1], noise=specs[1], cache=False).wait(WAIT)
    assert np.abs(together.images[1].astype(int) - alone.images[0].astype(int)).max() <= 1
    const = svc.submit(ws[1], cache=False).wait(WAIT)
    assert not np.array_equal(const.images[0], alone.images[0])
    fresh = svc.submit(ws[1], noise=NoiseSpec("random"), cache=False).wait(WAIT)
    assert fresh.noise[0].seed is not None  # the seed drawn is reported


def test_rejects_bad_input(gen, svc_factory):
    svc = svc_factory(gen)
    with pytest.raises(ValueError):
        svc.submit(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError):
        svc.submit(latents(gen, 2), noise=[NoiseSpec()])
    with pytest.raises(ValueError):
        NoiseSpec("loud")
    with pytest.raises(ValueError):
        RenderService(gen, device="cpu", optimize="warp", start=False)


# ----- priorities, coalescing, preemption -----------------------------------------------------
def test_priority_order_and_fifo(gen, svc_factory):
    ws = latents(gen, 4)
    svc = svc_factory(gen)
    log, cb = recorder()
    svc.pause()
    svc.submit(ws[0], priority=Priority.PREFETCH, callback=cb("prefetch"))
    svc.submit(ws[1], size=16, priority=Priority.VISIBLE, callback=cb("visible-a"))
    svc.submit(ws[2], size=8, priority=Priority.VISIBLE, callback=cb("visible-b"))
    svc.submit(ws[3], priority=Priority.INTERACTIVE, callback=cb("interactive"))
    assert log == []
    svc.resume()
    assert svc.idle(WAIT)
    assert [name for name, _ in log] == ["interactive", "visible-a", "visible-b", "prefetch"]
    assert [r.priority for r in svc.stats.batch_log] == [Priority.INTERACTIVE, Priority.VISIBLE,
                                                         Priority.VISIBLE, Priority.PREFETCH]


def test_coalescing_into_batches(gen, svc_factory):
    probe = Probe(gen)
    svc = svc_factory(probe, max_batch=4)
    ws = latents(gen, 7)
    svc.pause()
    tickets = [svc.submit(ws[i], size=16) for i in range(6)]          # six single-image requests
    odd = svc.submit(ws[6], size=16, noise=NoiseSpec("none"))         # other noise: not with them
    svc.resume()
    assert all(t.wait(WAIT).ok for t in tickets + [odd])
    assert probe.calls == [4, 2, 1]
    assert svc.stats.images_rendered == 7 and svc.stats.batches == 3


def test_interactive_preempts_prefetch_after_the_batch_in_flight(gen, svc_factory):
    probe = Probe(gen)
    probe.gate = threading.Event()
    svc = svc_factory(probe, max_batch=4, interactive_holdoff=0)
    ws = latents(gen, 41)
    job = svc.submit_job(ws[:40], size=16)                      # PREFETCH by default
    assert probe.entered.wait(WAIT)                             # first prefetch batch in flight
    hot = svc.submit(ws[40], priority=Priority.INTERACTIVE)
    probe.gate.set()
    assert hot.wait(WAIT).ok
    assert job.wait(WAIT).ok and job.result.count == 40
    prios = [r.priority for r in svc.stats.batch_log]
    assert prios[0] == Priority.PREFETCH and prios[1] == Priority.INTERACTIVE  # 9 batches still queued
    assert prios.count(Priority.PREFETCH) == 10


def test_smaller_background_batches_right_after_an_interactive_request(gen, svc_factory):
    ws = latents(gen, 17)
    for holdoff, expected in ((60.0, [1, 2, 2, 2, 2, 2, 2, 2, 2]), (0.0, [1, 8, 8])):
        svc = svc_factory(gen, max_batch=8, interactive_holdoff=holdoff)
        svc.pause()
        svc.submit_job(ws[:16], size=8)
        svc.submit(ws[16], size=8, priority=Priority.INTERACTIVE)
        svc.resume()
        assert svc.idle(WAIT)
        assert [r.n for r in svc.stats.batch_log] == expected


def test_adaptive_batch_grows_and_stays_bounded(gen, svc_factory):
    svc = svc_factory(gen, batch_time_target=10.0)
    assert svc.batch_limit() == 2
    svc.submit_job(latents(gen, 60), size=8).wait(WAIT)
    sizes = [r.n for r in svc.stats.batch_log]
    assert sizes[:4] == [2, 2, 2, 4], "full batches of 2 measured (3), then one size up"
    assert max(sizes) <= 64 and all(n & (n - 1) == 0 for n in sizes[:-1]), "power-of-two steps (the last: the rest)"
    assert svc.sizer.samples.get(2) == 3 and svc.sizer.samples.get(4, 0) >= 1   # measured by throughput
    tight = svc_factory(gen, batch_time_target=1e-9)
    tight.submit_job(latents(gen, 6), size=8).wait(WAIT)
    assert [r.n for r in tight.stats.batch_log][1:] == [1] * (len(tight.stats.batch_log) - 1)


# ----- cancellation and tokens -------------------------------------------------------------
def test_cancel(gen, svc_factory):
    ws = latents(gen, 3)
    svc = svc_factory(gen)
    log, cb = recorder()
    svc.pause()
    a = svc.submit(ws[:2], callback=cb("a"))
    b = svc.submit(ws[2], callback=cb("b"))
    assert a.cancel() and a.done and a.status is Status.CANCELLED
    assert log == [("a", Status.CANCELLED)]
    assert not a.cancel()
    svc.resume()
    assert b.wait(WAIT).ok and a.wait(0).status is Status.CANCELLED
    assert svc.stats.images_rendered == 1 and svc.stats.dropped == 2


def test_cancel_a_long_job_midway(gen, svc_factory):
    svc = svc_factory(gen, max_batch=2)
    progress = []
    ticket = None

    def on_progress(done, total):
        progress.append((done, total))
        if done >= 4:
            ticket.cancel()

    ticket = svc.submit_job(latents(gen, 30), size=8, on_progress=on_progress)
    res = ticket.wait(WAIT)
    assert res.status is Status.CANCELLED
    assert progress[0] == (2, 30) and progress[-1] == (4, 30)
    assert svc.stats.images_rendered == 4


def test_superseded_tokens_are_dropped_before_rendering(gen, svc_factory):
    ws = latents(gen, 10)
    svc = svc_factory(gen)
    log, cb = recorder()
    svc.pause()
    tickets = [svc.submit(ws[i], priority=Priority.INTERACTIVE, token="slider", callback=cb(i))
               for i in range(10)]                               # the user drags a slider
    other = svc.submit(ws[0], size=16, token=("cell", 3))
    assert all(t.status is Status.SUPERSEDED for t in tickets[:9])
    svc.resume()
    assert tickets[-1].wait(WAIT).ok and other.wait(WAIT).ok
    assert svc.stats.images_rendered == 2                        # the last slider value and the cell
    assert svc.stats.superseded == 9 and svc.stats.dropped == 9
    assert [s for _, s in log].count(Status.SUPERSEDED) == 9

    svc.pause()
    closing = svc.submit(ws[1:4], token="dialog")
    assert svc.supersede("dialog") == 1 and closing.status is Status.SUPERSEDED
    svc.resume()
    assert svc.idle(WAIT) and svc.stats.images_rendered == 2


def test_superseded_in_flight_is_not_delivered_but_cached(gen, svc_factory):
    probe = Probe(gen)
    probe.gate = threading.Event()
    svc = svc_factory(probe)
    ws = latents(gen, 2)
    first = svc.submit(ws[0], token="slider")
    assert probe.entered.wait(WAIT)
    second = svc.submit(ws[1], token="slider")
    assert first.status is Status.SUPERSEDED
    probe.gate.set()
    assert second.wait(WAIT).ok and first.result.images == [None]
    again = svc.submit(ws[0])
    assert again.done and again.result.from_cache == [True]     # the work was not wasted


def test_set_generator_drops_work_for_the_old_model(gen, svc_factory):
    other = tiny(seed=5)
    ws = latents(gen, 2)
    svc = svc_factory(gen)
    svc.pause()
    old = svc.submit(ws)
    svc.set_generator(other)
    assert old.status is Status.SUPERSEDED
    new = svc.submit(ws)
    svc.resume()
    ref = to_uint8(other.synthesize(torch.from_numpy(ws)))
    assert_images_close(np.stack(new.wait(WAIT).images), ref)
    assert svc.stats.images_rendered == 2


# ----- cache ------------------------------------------------------------------------------
def test_cache_hit_is_immediate(gen, svc_factory):
    probe = Probe(gen)
    svc = svc_factory(probe)
    ws = latents(gen, 3)
    first = svc.submit(ws, size=16).wait(WAIT)
    calls = list(probe.calls)
    seen = []
    again = svc.submit(ws[1], size=16, callback=seen.append)
    assert again.done and seen and seen[0].from_cache == [True]  # answered inside submit()
    assert again.result.images[0] is first.images[1]
    assert not again.result.images[0].flags.writeable
    assert svc.stats.cache_hits == 1 and probe.calls == calls
    mixed = svc.submit(ws[1:3].tolist() + [latents(gen, 1, seed=9)[0]], size=16).wait(WAIT)
    assert mixed.from_cache == [True, True, False] and probe.calls == calls + [1]
    assert svc.submit(ws[1], size=8).wait(WAIT).from_cache == [False]    # other size: other entry
    assert svc.submit(ws[1], size=16, noise=NoiseSpec("none")).wait(WAIT).from_cache == [False]


def test_cache_is_lru_bounded_in_bytes():
    cache = RenderCache(max_bytes=3 * 100)
    imgs = [np.full((10, 10, 1), i, np.uint8) for i in range(4)]
    for i in range(3):
        cache.put(i, imgs[i])
    assert cache.get(0) is imgs[0]                               # 0 is now most recent
    cache.put(3, imgs[3])
    assert 1 not in cache and 0 in cache and cache.nbytes == 300 and len(cache) == 3
    cache.put("big", np.zeros((20, 20, 1), np.uint8))            # larger than the bound: not kept
    assert "big" not in cache
    cache.max_bytes = 100
    assert len(cache) == 1 and 3 in cache


def test_prefetch_job_fills_the_cache(gen, svc_factory):
    probe = Probe(gen)
    svc = svc_factory(probe)
    ws = latents(gen, 6)
    svc.submit_job(ws[:4], size=16, cache=True).wait(WAIT)
    n = sum(probe.calls)
    res = svc.submit(ws[:4], size=16)
    assert res.done and all(res.result.from_cache)
    job = svc.submit_job(ws, size=16, cache=True, collect=True).wait(WAIT)
    assert job.from_cache == [True] * 4 + [False] * 2 and sum(probe.calls) == n + 2


# ----- long jobs ----------------------------------------------------------------------------
def test_job_streams_in_order_with_progress(gen, svc_factory):
    svc = svc_factory(gen, max_batch=3)
    ws = latents(gen, 8)
    chunks, progress = [], []

    def source():  # lazily, in chunks of various shapes, pulled on the worker
        yield ws[0]
        yield ws[1:5]
        yield torch.from_numpy(ws[5:])

    ticket = svc.submit_job(source(), size=16, total=8, collect=True,
                            on_images=lambda start, imgs: chunks.append((start, len(imgs))),
                            on_progress=lambda d, t: progress.append((d, t)))
    res = ticket.wait(WAIT)
    assert res.ok and res.count == 8 and len(res.images) == 8
    assert [s for s, _ in chunks] == [0, 3, 6] and sum(n for _, n in chunks) == 8
    assert progress[-1] == (8, 8) and ticket.progress == (8, 8)
    ref = svc.submit(ws, size=16, cache=False).wait(WAIT)
    for a, b in zip(res.images, ref.images):
        assert_images_close(a, b)
    assert svc.submit_job(iter([]), size=16).wait(WAIT).ok   # an empty job just ends
    assert svc.submit_job([ws[:3], ws[3]], size=16).progress == (0, 4)  # total counted from a list


def test_failing_job_source_is_an_error(gen, svc_factory):
    svc = svc_factory(gen)

    def source():
        yield latents(gen, 2)
        raise OSError("disk gone")

    res = svc.submit_job(source(), size=8).wait(WAIT)
    assert res.status is Status.ERROR and "disk gone" in res.error
    assert svc.render(latents(gen, 1), timeout=WAIT).ok


# ----- failures -----------------------------------------------------------------------------
def test_out_of_memory_splits_the_batch(gen, svc_factory):
    probe = Probe(gen)
    probe.oom_above = 2
    svc = svc_factory(probe, max_batch=8)
    ws = latents(gen, 8)
    res = svc.submit(ws).wait(WAIT)
    assert res.ok  # other batch sizes may round a pixel differently
    ref = to_uint8(gen.synthesize(torch.from_numpy(ws))).astype(int)
    assert np.abs(np.stack(res.images).astype(int) - ref).max() <= 1
    assert max(probe.calls) <= 2 and svc.stats.oom_splits >= 1
    assert svc.batch_limit() <= 4                                # it learned


def test_out_of_memory_on_one_image_is_reported(gen, svc_factory):
    probe = Probe(gen)
    probe.oom_above = 0
    svc = svc_factory(probe, max_batch=4)
    res = svc.submit(latents(gen, 3)).wait(WAIT)
    assert res.status is Status.ERROR and "out of memory" in res.error
    probe.oom_above = None
    assert svc.submit(latents(gen, 2, seed=3)).wait(WAIT).ok


def test_exception_in_one_request_does_not_kill_the_worker(gen, svc_factory):
    probe = Probe(gen)
    probe.fail_value = 7.0
    svc = svc_factory(probe)
    ws = latents(gen, 2)
    bad_ws = np.full_like(ws[:1], 7.0)
    svc.pause()
    good1 = svc.submit(ws[0])
    bad = svc.submit(bad_ws)                                     # coalesced with the good ones
    good2 = svc.submit(ws[1], callback=lambda r: 1 / 0)          # a broken callback too
    svc.resume()
    assert bad.wait(WAIT).status is Status.ERROR and "boom" in bad.result.error
    assert good1.wait(WAIT).ok and good2.wait(WAIT).ok
    assert svc.stats.errors == 1
    assert svc.render(latents(gen, 1, seed=4), timeout=WAIT).ok
    assert svc._thread.is_alive()


def test_is_oom():
    assert is_oom(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_oom(RuntimeError("MPS backend out of memory"))
    assert not is_oom(ValueError("out of memory"))


# ----- shutdown --------------------------------------------------------------------------------
def test_shutdown_with_work_queued(gen):
    probe = Probe(gen)
    probe.gate = threading.Event()
    svc = RenderService(probe, device="cpu", num_threads=0, max_batch=2)
    ws = latents(gen, 160)
    tickets = [svc.submit(ws[2 * i:2 * i + 2], size=16) for i in range(30)]
    job = svc.submit_job(ws[60:], size=16)
    assert probe.entered.wait(WAIT)                              # one batch in flight, the rest queued
    threading.Timer(0.1, probe.gate.set).start()
    t0 = time.monotonic()
    assert svc.shutdown(timeout=WAIT)                            # the batch in flight ends, nothing more
    assert time.monotonic() - t0 < 5
    assert job.status is Status.CANCELLED
    assert all(t.status is Status.CANCELLED for t in tickets)
    assert svc.stats.images_rendered == 2 and svc.stats.dropped == 158
    late = svc.submit(latents(gen, 1))
    assert late.done and late.status is Status.CANCELLED


def test_shutdown_never_hangs_on_a_stuck_batch(gen):
    probe = Probe(gen)
    probe.gate = threading.Event()
    svc = RenderService(probe, device="cpu", num_threads=0)
    stuck = svc.submit(latents(gen, 1))
    queued = svc.submit(latents(gen, 1, seed=2))
    assert probe.entered.wait(WAIT)
    t0 = time.monotonic()
    assert svc.shutdown(timeout=0.2) is False                    # returns although the batch is stuck
    assert time.monotonic() - t0 < 2
    assert stuck.status is Status.CANCELLED and queued.status is Status.CANCELLED
    probe.gate.set()
    svc._thread.join(WAIT)
    assert not svc._thread.is_alive()


# ----- device, precision, fast paths ----------------------------------------------------------
def test_device_and_precision_defaults(gen):
    assert pick_device("cpu").type == "cpu"
    assert pick_device(None).type in ("cuda", "mps", "cpu")
    assert default_precision(torch.device("cuda")) == torch.float16
    assert default_precision(torch.device("cpu")) == torch.float32
    assert default_precision(torch.device("mps")) == torch.float32
    assert 1 <= default_num_threads()
    svc = RenderService(gen, device="cpu", precision="bfloat16", start=False)
    assert svc.dtype == torch.bfloat16 and svc.precision == "bfloat16"


def test_bfloat16_renders_close(gen, svc_factory):
    ws = latents(gen, 2)
    a = svc_factory(gen).submit(ws).wait(WAIT)
    b = svc_factory(gen, precision="bfloat16").submit(ws).wait(WAIT)
    assert b.ok
    diff = np.abs(np.stack(a.images).astype(int) - np.stack(b.images).astype(int))
    assert diff.mean() < 12


def test_channels_last_switch(gen, svc_factory):
    ws = latents(gen, 3)
    plain = svc_factory(gen).submit(ws).wait(WAIT)
    svc = svc_factory(gen, optimize="channels_last")
    fast = svc.submit(ws).wait(WAIT)
    assert fast.ok and svc._model is not gen
    diff = np.abs(np.stack(plain.images).astype(int) - np.stack(fast.images).astype(int))
    assert diff.max() <= 1
    assert all(p.is_contiguous() for p in gen.parameters())      # the caller's model is untouched


def test_compile_switch(gen, svc_factory):
    # The default inductor backend compiles C++ for minutes on 2 CPU cores; the 'eager' backend
    # runs the same dynamo capture (the code path of the switch) in seconds.
    ws = latents(gen, 2)
    specs = [NoiseSpec("random", seed=3), NoiseSpec("random", seed=4)]
    plain = svc_factory(gen).submit(ws, noise=specs, cache=False).wait(WAIT)
    svc = svc_factory(gen, optimize="compile", compile_options={"backend": "eager"})
    res = svc.submit(ws, noise=specs, cache=False).wait(60)
    assert res.ok and svc.stats.compile_fallbacks == 0
    assert_images_close(np.stack(res.images), np.stack(plain.images))


def test_compile_failure_falls_back_to_eager(gen, svc_factory):
    svc = svc_factory(gen, optimize=["compile", "channels_last"],
                      compile_options={"backend": "no-such-backend"})
    assert svc.render(latents(gen, 2), timeout=60).ok
    assert svc.stats.compile_fallbacks == 1


def test_stylegan3_renders(svc_factory):
    torch.manual_seed(0)
    g3 = Generator(stylegan3_config(16, z_dim=16, w_dim=16, channel_base=64, channel_max=16))
    ws = g3.map(torch.randn(2, 16)).numpy()
    res = svc_factory(g3).submit(ws, noise=NoiseSpec("random", seed=1)).wait(WAIT)
    assert res.ok and res.noise[0].mode == "none"                # SG3 has no noise inputs
    assert_images_close(np.stack(res.images), to_uint8(g3.synthesize(torch.from_numpy(ws))))


def test_preview_requests_take_the_cheap_path_and_are_cached_apart(gen):
    """submit(preview=True): a skip model stops at the size's block (result.preview says so), the
    picture equals synthesize(preview_size) resized, and preview and full pictures never share a
    cache entry; where there is no cheaper path the request is a plain full render."""
    from explorer.render_cache import resize_images

    ws = latents(gen, 3)
    with RenderService(gen, device="cpu") as svc:
        assert svc.preview_applies(12) and not svc.preview_applies(32) and not svc.preview_applies(None)
        prev = svc.render(ws, 12, preview=True, timeout=WAIT)
        full = svc.render(ws, 12, timeout=WAIT)
        assert prev.ok and full.ok and prev.preview and not full.preview
        assert not any(full.from_cache)                       # not served the preview from the cache
        with torch.no_grad():
            want_prev = to_uint8(resize_images(gen.synthesize(torch.from_numpy(ws), preview_size=12), 12))
            want_full = to_uint8(resize_images(gen.synthesize(torch.from_numpy(ws)), 12))
        for i in range(3):
            assert_images_close(prev.images[i], want_prev[i])
            assert_images_close(full.images[i], want_full[i])
        assert any(np.abs(p.astype(int) - f).max() > 1 for p, f in zip(prev.images, full.images))
        again = svc.render(ws, 12, preview=True, timeout=WAIT)
        assert all(again.from_cache) and again.preview
        whole = svc.render(ws, 32, preview=True, timeout=WAIT)     # the model's own size: no cheaper path
        assert whole.ok and not whole.preview


def test_shutdown_stops_a_long_batch_between_layers():
    """A big model's batch takes seconds: shutting down must not leave a torch op running (the
    process would abort at exit), so the worker stops between two layers and exits."""
    from explorer import stylegan2_config

    torch.manual_seed(0)
    slow = Generator(stylegan2_config(256, z_dim=32, w_dim=32, channel_base=8192, channel_max=128,
                                      mapping_layers=1))
    layers_run = []
    inner = slow.synthesis.b256 if hasattr(slow.synthesis, "b256") else list(slow.synthesis.children())[-1]
    inner.register_forward_pre_hook(lambda *_a: layers_run.append("last block"))
    svc = RenderService(slow, device="cpu", max_batch=64, num_threads=1, cpu_workers=2)   # a helper too
    started = threading.Event()
    first = list(slow.synthesis.children())[0]
    first.register_forward_pre_hook(lambda *_a: started.set())
    ticket = svc.submit(latents(slow, 64), cache=False)
    assert started.wait(60), "the batch started"
    assert svc.shutdown(timeout=60), "the worker exited"
    assert ticket.wait(5).status == Status.CANCELLED
    assert not layers_run, "the batch stopped before its last block"
    assert not any(m._forward_pre_hooks for m in slow.synthesis.modules() if m is not first and m is not inner), \
        "its hooks are gone from the model"
