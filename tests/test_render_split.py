"""A CPU batch rendered as parts on parallel threads (explorer/render_split.py): the same pictures
as one thread renders, in order, whatever the noise; errors and shutdowns reach every part."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from explorer.noise import NOISE_MAPS
from explorer.render import NoiseSpec, Status
from explorer.render_split import MIN_PART, BatchSplitter, default_cpu_workers

from .conftest import tiny_generator
from .test_render import latents

WAIT = 30.0


class ThreadProbe:
    """Generator wrapper: records which thread rendered how many images; can fail on a marker."""

    def __init__(self, g):
        self.g, self.info, self.fingerprint = g, g.info, g.fingerprint
        self.calls: list[tuple[str, int]] = []
        self.threads: list[int] = []          # intra-op threads each call ran with
        self.fail_value: float | None = None
        self._lock = threading.Lock()

    @property
    def device(self):
        return self.g.device

    def noise_inputs(self):
        return self.g.noise_inputs()

    def make_noise(self, n, seed=None, layers=None):
        return self.g.make_noise(n, seed, layers)

    def synthesize(self, ws, **kw):
        with self._lock:
            self.calls.append((threading.current_thread().name, ws.shape[0]))
            self.threads.append(torch.get_num_threads())
        if self.fail_value is not None and bool((ws == self.fail_value).flatten(1).all(1).any()):
            raise ValueError("boom")
        return self.g.synthesize(ws, **kw)


@pytest.fixture(scope="module")
def gen():
    return tiny_generator(32, 32, seed=3, channels=32, mapping_layers=2)


@pytest.fixture
def services(svc_factory):
    saved = torch.get_num_threads()

    def make(g, **kw):
        kw.setdefault("num_threads", 1)   # the split applies where a worker has fewer threads than cores
        return svc_factory(g, **kw)
    yield make
    torch.set_num_threads(saved)


def close(a, b) -> bool:
    """uint8 pictures equal up to one level (convs round differently per batch size, ~1e-6)."""
    return np.abs(np.stack(a).astype(int) - np.stack(b).astype(int)).max() <= 1


def test_parts_cover_the_batch_in_order():
    s = BatchSplitter(workers=3, threads=1)
    for n in range(1, 40):
        spans = s.parts(n)
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
        assert len(spans) <= 3 and (len(spans) == 1 or min(hi - lo for lo, hi in spans) >= MIN_PART)
    assert len(s.parts(2 * MIN_PART - 1)) == 1 and len(s.parts(16)) == 3
    assert default_cpu_workers(10_000) == 1          # the render thread already has the cores


@pytest.mark.parametrize("noise", ["const", "random", "maps"])
def test_split_batch_renders_what_one_thread_renders(gen, services, noise):
    ws = latents(gen, 12)
    specs = NoiseSpec()
    if noise == "random":
        specs = [NoiseSpec("random", seed=100 + i) for i in range(12)]
    elif noise == "maps":
        rng = np.random.default_rng(0)
        ids = [NOISE_MAPS.put([rng.standard_normal((ni.resolution, ni.resolution)).astype(np.float32)
                               for ni in gen.noise_inputs()]) for _ in range(12)]
        specs = [NoiseSpec("maps", maps=k) for k in ids]
    probe = ThreadProbe(gen)
    split = services(probe, cpu_workers=2, max_batch=12)
    alone = services(gen, cpu_workers=1, max_batch=12)
    split.pause()                                    # the twelve as one batch
    a = split.submit(ws, noise=specs, cache=False)
    split.resume()
    b = alone.submit(ws, noise=specs, cache=False).wait(WAIT)
    assert a.wait(WAIT).ok and b.ok
    assert close(a.result.images, b.images)
    threads = {name for name, _n in probe.calls}
    assert sorted(n for _t, n in probe.calls) == [6, 6] and len(threads) == 2, probe.calls
    assert "render-worker" in threads and split.stats.split_batches == 1
    assert alone.stats.split_batches == 0
    # per-image noise follows the image, not the part it lands in: a face alone looks the same
    one = split.submit(ws[7], noise=specs if isinstance(specs, NoiseSpec) else specs[7], cache=False).wait(WAIT)
    assert close([one.images[0]], [a.result.images[7]])


def test_small_batches_stay_on_the_render_thread(gen, services):
    probe = ThreadProbe(gen)
    svc = services(probe, cpu_workers=2)
    assert svc.submit(latents(gen, 2 * MIN_PART - 1), cache=False).wait(WAIT).ok
    assert {t for t, _n in probe.calls} == {"render-worker"} and svc.stats.split_batches == 0


def test_an_error_in_a_helpers_part_is_that_requests_alone(gen, services):
    probe = ThreadProbe(gen)
    probe.fail_value = 7.0
    svc = services(probe, cpu_workers=2, max_batch=8)
    ws = latents(gen, 6)
    svc.pause()
    good = svc.submit(ws[:6])                        # the first part
    bad = svc.submit(np.full_like(ws[:2], 7.0))      # the end of the batch: the helper's part
    svc.resume()
    assert bad.wait(WAIT).status is Status.ERROR and "boom" in bad.result.error
    assert good.wait(WAIT).ok and good.result.count == 6
    assert any(t != "render-worker" for t, _n in probe.calls), "a helper rendered a part"
    assert svc.render(latents(gen, 4, seed=9), timeout=WAIT).ok


def test_parts_share_the_threads_a_single_face_gets_all(gen, services):
    probe = ThreadProbe(gen)
    svc = services(probe, num_threads=2, cpu_workers=2, max_batch=8)
    svc.pause()
    batch = svc.submit(latents(gen, 8), cache=False)
    svc.resume()
    assert batch.wait(WAIT).ok and probe.threads == [1, 1], (probe.calls, probe.threads)
    assert svc.render(latents(gen, 1, seed=5), cache=False, timeout=WAIT).ok
    assert probe.threads[-1] == 2, ("the render thread has its two threads back", probe.calls, probe.threads)


def test_a_late_helper_keeps_its_thread_count_and_helpers_are_daemons():
    """A helper that starts its part after the calling thread restored its own number of threads
    still renders with the parts' number; helper threads are daemons and forgotten when closed."""
    saved = torch.get_num_threads()
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    def part(lo, hi):
        if threading.current_thread().name != "caller":
            time.sleep(0.2)                     # the caller has finished its part and restored 2
        with lock:
            seen.append((threading.current_thread().name, torch.get_num_threads()))
        return torch.zeros(hi - lo, 1)

    def caller():
        torch.set_num_threads(2)
        torch.get_num_threads()
        s = BatchSplitter(workers=2, threads=1)
        for _ in range(2):
            out = s.run(8, part)
            assert out.shape == (8, 1)
        helpers = set(s._threads)
        assert helpers and all(t.daemon for t in helpers)
        s.close()
        assert not s._threads
        for t in helpers:
            t.join(5)
            assert not t.is_alive()
        seen.append(("caller after", torch.get_num_threads()))

    t = threading.Thread(target=caller, name="caller")
    t.start()
    t.join(30)
    torch.set_num_threads(saved)
    assert sorted(seen) == [("caller", 1), ("caller", 1), ("caller after", 2),
                            ("render-part-1", 1), ("render-part-1", 1)], seen


def test_splitter_synthesize_draws_what_the_generator_draws(gen):
    ws = torch.from_numpy(latents(gen, 6))
    s = BatchSplitter(workers=2, threads=1)
    saved = torch.get_num_threads()
    try:
        with torch.inference_mode():
            parts = s.synthesize(gen, ws, noise_mode="const")
            whole = gen.synthesize(ws, noise_mode="const")
    finally:
        s.close()
        torch.set_num_threads(saved)
    assert s.split_batches == 1
    torch.testing.assert_close(parts, whole, atol=1e-5, rtol=0)
