"""Render service: one worker thread owns the generator and the device; callers never block on it.

    svc = RenderService(generator)                       # device: CUDA, then MPS, then CPU
    t = svc.submit(ws, size=128, priority=Priority.VISIBLE, token=("cell", 7), callback=on_done)
    t.cancel(); t.wait(timeout); t.done
    job = svc.submit_job(ws_iter, size=256, on_images=write_frames, on_progress=bar)
    svc.shutdown()

Requests (lists of ws latents [num_ws, w_dim]) are served by priority (INTERACTIVE, then VISIBLE,
then PREFETCH; FIFO within one), coalesced into batches of equal size and noise settings. Between
two batches the worker looks at the queue again, so a new interactive request waits at most for
the batch in flight. Submitting with a token supersedes every unfinished request with the same
token: queued items are dropped unrendered and the old ticket ends with status SUPERSEDED.

Threads: callbacks (callback, on_images, on_progress) run on the worker thread, except when a
request ends inside a call on another thread: a submit answered entirely from the cache, a
cancel(), a supersede by submit()/supersede(), set_generator() and shutdown() run the callbacks of
the tickets they end on the calling thread, before returning. Callbacks must be quick and must
not wait on a ticket; the Qt adapter re-posts results as queued signals.

The generator passed in is never modified. It is rendered directly when it already lives on the
service's device; otherwise (other device, or the channels-last switch) the worker renders with a
private copy. Call set_generator() again after editing a generator's weights in place.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import math
import logging
import secrets
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Sequence

import numpy as np
import torch

from .batch_sizer import BatchSizer
from .devices import default_dtype as default_precision
from .devices import pick_device
from .generators.generator import to_uint8
from .generators.sg2_plan import between_layers, plan_serves
from .noise import NoiseSpec
from .precision import CANDIDATE as CANDIDATE_DTYPE
from .precision import TOLERANCE_DB as PRECISION_TOLERANCE_DB
from .precision import (PrecisionChoice, PrecisionMemory, apply_modconv_forms, choose_modconv_forms,
                        cpu_has_fast_bf16, psnr_u8)
from .precision import decide as decide_precision
from .render_cache import RenderCache, cache_key, latent_digest, resize_images
from .render_split import MIN_PART, BatchSplitter, default_cpu_workers
from .render_queue import (BatchRecord, Priority, RenderItem, RenderRequest, RenderResult, RenderStats, Status, Ticket,
                           default_num_threads, is_oom)

log = logging.getLogger(__name__)


class RenderInterrupted(Exception):
    """The service is shutting down: the batch in flight stops between two layers."""

__all__ = ["Priority", "Status", "NoiseSpec", "RenderResult", "RenderStats", "Ticket", "RenderService",
           "RenderCache", "pick_device", "default_precision", "default_num_threads", "is_oom"]

MAX_ADAPTIVE_BATCH = 64
IDLE_TASK_DELAY_S = 1.0   # a measurement waits for this long a quiet spell of the worker

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
           "fp16": torch.float16, "half": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
_OPTIMIZATIONS = ("channels_last", "compile")


class RenderService:
    """See the module docstring.

    generator: an explorer Generator (or anything with info, fingerprint, synthesize, to).
    device: 'cuda' / 'mps' / 'cpu' / torch.device; None picks CUDA, then MPS, then CPU.
    precision: torch dtype or 'float16' / 'bfloat16' / 'float32'; None: float16 on CUDA, else float32;
        'auto': as None, except on a CPU with native bfloat16, where each model's first batch measures
        bfloat16 against float32 and keeps it if it is faster and within 38 dB (explorer.precision).
    precision_memory: a folder where 'auto' remembers its choices (None: measured every session).
    max_batch: fixed largest batch; None adapts it to the device (time per batch, free memory).
    cache_bytes / cache: size of a new LRU cache, or a RenderCache to share.
    num_threads: CPU intra-op threads set on the worker (CPU device only); None: default_num_threads().
    cpu_workers: a CPU batch is rendered as this many parts on parallel threads, each with
        num_threads // cpu_workers intra-op threads (at least 1; render_split); smaller batches on
        the render thread with num_threads. None: default_cpu_workers(num_threads) (cores //
        num_threads: 2 on 2 cores with one thread), 1: the render thread alone. num_threads=0
        (threads left as they are) renders without parts.
    optimize: None / 'none', or 'channels_last' (weights too, on a copy), 'compile' or both (list or
        'channels_last+compile'). On a CPU the activations run channels-last in any case.
    compile_options: keyword arguments of torch.compile (e.g. {'backend': 'eager'}).
    batch_time_target: seconds one adaptive batch aims at (bounds the wait of an interactive request).
    interactive_holdoff: for this many seconds after an interactive request, lower-priority batches
        are cut to a quarter, so the next value of a dragged slider waits less (0 turns this off).
    """

    def __init__(self, generator, device=None, precision=None, max_batch: int | None = None,
                 cache_bytes: int = 256 << 20, num_threads: int | None = None, optimize=None,
                 compile_options: dict | None = None, batch_time_target: float = 0.4,
                 interactive_holdoff: float = 0.3, cache: RenderCache | None = None, start: bool = True,
                 precision_memory: str | Path | None = None, cpu_workers: int | None = None):
        self.device = pick_device(device)
        # 'auto' on a CPU with native bfloat16: measured per model on its first batch (precision.py)
        self._auto_precision = precision == "auto" and self.device.type == "cpu" and cpu_has_fast_bf16()
        self.precision_choice: PrecisionChoice | None = None
        self._precision_memory = PrecisionMemory(precision_memory) if self._auto_precision else None
        if precision is None or precision == "auto":
            self.dtype = default_precision(self.device)
        else:
            self.dtype = _DTYPES[precision] if isinstance(precision, str) else precision
        self.precision = str(self.dtype).replace("torch.", "")
        # Cache keys name the setting, not the dtype of the moment: under 'auto' a face rendered in
        # float32 before the choice and in bfloat16 after is the same picture within 38 dB.
        self._key_precision = "auto" if self._auto_precision else self.precision
        self.cache = cache if cache is not None else RenderCache(cache_bytes)
        self.stats = RenderStats()
        if max_batch is not None and max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.max_batch = max_batch
        self.batch_time_target = float(batch_time_target)
        self.interactive_holdoff = float(interactive_holdoff)
        self._last_interactive = -float("inf")
        self.num_threads = num_threads
        if cpu_workers is not None and cpu_workers < 1:
            raise ValueError("cpu_workers must be >= 1")
        self.cpu_workers = cpu_workers
        self._splitter: BatchSplitter | None = None
        self.optimize = _parse_optimize(optimize)
        self.compile_options = dict(compile_options or {})
        self._cond = threading.Condition()
        self.stats.lock = self._cond
        self._queues: dict[Priority, deque[RenderRequest]] = {p: deque() for p in Priority}
        self._tokens: dict[Hashable, set] = {}
        self._ids = itertools.count(1)
        self._paused = False
        self._stopping = False
        self._init_worker_state()
        self._set_model(generator)
        self._thread = threading.Thread(target=self._run, name="render-worker", daemon=True)
        if start:
            self._thread.start()

    # ----- model ------------------------------------------------------------------------
    def _set_model(self, generator) -> None:
        info = generator.info
        self._generator = generator
        self._fingerprint = str(generator.fingerprint)
        self._info = info
        self._has_noise = info.arch != "stylegan3" and bool(getattr(generator, "noise_inputs", lambda: [1])())
        inputs = generator.noise_inputs() if self._has_noise and hasattr(generator, "noise_inputs") else []
        self._noise_sides = [int(ni.resolution) for ni in inputs]
        self._model_gen = getattr(self, "_model_gen", 0) + 1

    @property
    def generator(self):
        return self._generator

    def preview_applies(self, size: int | None) -> bool:
        """Whether a picture of `size` px has a cheaper preview path than the full render (a
        StyleGAN2 skip generator stopping at an earlier block)."""
        gen = self._generator
        if size is None or not hasattr(gen, "preview_resolution"):
            return False
        return gen.preview_resolution(_preview_size(size)) < self._info.resolution

    def set_generator(self, generator) -> None:
        """Render with another model from now on; queued work for the old one ends SUPERSEDED."""
        generator.fingerprint  # noqa: B018  (computed here, not under the lock)
        with self._cond:
            self._set_model(generator)
            reqs = [r for q in self._queues.values() for r in q]
        self._end(reqs, Status.SUPERSEDED, "model changed")
        with self._cond:
            self._cond.notify_all()

    # ----- submitting -------------------------------------------------------------------
    def submit(self, latents, size: int | None = None, priority: Priority = Priority.VISIBLE,
               token: Hashable | None = None, callback: Callable[[RenderResult], Any] | None = None,
               noise: NoiseSpec | Sequence[NoiseSpec] = NoiseSpec(), cache: bool = True,
               preview: bool = False, exact: bool = False) -> Ticket:
        """Render latents (ws [N, num_ws, w_dim], one [num_ws, w_dim], or a list of those) at `size`.

        preview: through the generator's cheap preview path where there is one for `size`
        (`preview_applies`; the result says whether it was); otherwise a full render.
        exact: in float32 even where precision 'auto' chose bfloat16 (exports, stills).

        Cached images are looked up here, on the calling thread; a request answered entirely from
        the cache is done (and its callback called) before submit returns.
        """
        ws = self._as_latents(latents)
        size = self._check_size(size)
        n = ws.shape[0]
        specs = [noise] * n if isinstance(noise, NoiseSpec) else list(noise)
        if len(specs) != n:
            raise ValueError(f"got {len(specs)} noise specs for {n} latents")
        specs = [self._resolve_noise(s) for s in specs]
        with self._cond:
            gen, fp = self._model_gen, self._fingerprint
        preview = bool(preview) and self.preview_applies(size)
        req = RenderRequest(next(self._ids), priority, size, token, callback, gen, cache=cache, collect=True,
                            preview=preview, exact=exact)
        label = self._precision_label(exact)
        req.images, req.from_cache, req.noise = [None] * n, [False] * n, specs
        hits = 0
        for i in range(n):
            key = cache_key(fp, latent_digest(ws[i]), specs[i], size, label, preview) if cache else None
            img = self.cache.get(key) if key is not None else None
            if img is not None:
                req.images[i], req.from_cache[i] = img, True
                hits += 1
            else:
                req.pending.append(RenderItem(req, i, ws[i], specs[i], key))
        req.count = hits
        return self._enqueue(req, hits)

    def submit_job(self, latents: Iterable, size: int | None = None, priority: Priority = Priority.PREFETCH,
                   token: Hashable | None = None, callback: Callable[[RenderResult], Any] | None = None,
                   noise: NoiseSpec | Callable[[int], NoiseSpec] = NoiseSpec(), *,
                   on_images: Callable[[int, list], Any] | None = None,
                   on_progress: Callable[[int, int | None], Any] | None = None,
                   total: int | None = None, cache: bool = False, collect: bool = False,
                   exact: bool = False) -> Ticket:
        """A long job: latents is any iterable of ws (each [num_ws, w_dim] or a chunk [n, num_ws, w_dim]),
        pulled lazily on the worker thread as batches are formed (it may map z -> w there).

        on_images(start_index, images) streams results in order; on_progress(done, total) follows
        each batch. cache=True looks images up in (and stores them into) the cache (prefetch);
        collect=True also keeps every image in the final result. noise: one spec for every image or
        a function index -> NoiseSpec. exact: as in submit (clip exports).
        """
        size = self._check_size(size)
        if total is None:
            total = _count(latents)
        noise_fn = noise if callable(noise) else (lambda i, _s=noise: _s)
        with self._cond:
            gen = self._model_gen
        req = RenderRequest(next(self._ids), priority, size, token, callback, gen, cache=cache, collect=collect,
                       source=iter(_chunks(latents)), noise_fn=noise_fn, total=total,
                       on_images=on_images, on_progress=on_progress, exact=exact)
        return self._enqueue(req, 0)

    def _precision_label(self, exact: bool) -> str:
        """The precision named in cache keys: 'auto' (float32 or the bfloat16 it chose, both within
        38 dB), 'float32' for exact requests under 'auto', else the service's fixed precision."""
        return "float32" if exact and self._auto_precision else self._key_precision

    def render(self, latents, size: int | None = None, timeout: float | None = None, **kw) -> RenderResult:
        """submit(...).wait(timeout), at INTERACTIVE priority unless told otherwise."""
        kw.setdefault("priority", Priority.INTERACTIVE)
        return self.submit(latents, size, **kw).wait(timeout)

    def _enqueue(self, req: RenderRequest, hits: int) -> Ticket:
        ticket = Ticket(self, req)
        thunks = []
        with self._cond:
            if req.priority == Priority.INTERACTIVE:
                self._last_interactive = time.monotonic()
            self.stats.submitted += 1
            self.stats.cache_hits += hits
            if self._stopping:
                thunks.append(self._finish_locked(req, Status.CANCELLED, "service shut down"))
            elif req.model_gen != self._model_gen:
                thunks.append(self._finish_locked(req, Status.SUPERSEDED, "model changed"))
            else:
                if req.token is not None:
                    old = self._tokens.pop(req.token, set())
                    thunks += [self._finish_locked(r, Status.SUPERSEDED) for r in old]
                if req.complete():
                    thunks.append(self._finish_locked(req, Status.OK))
                else:
                    if req.token is not None:
                        self._tokens.setdefault(req.token, set()).add(req)
                    self._queues[req.priority].append(req)
                    self._cond.notify_all()
        _call_all(thunks)
        return ticket

    def supersede(self, token: Hashable) -> int:
        """End every unfinished request submitted with `token` (SUPERSEDED); returns how many."""
        with self._cond:
            reqs = list(self._tokens.get(token, ()))
        self._end(reqs, Status.SUPERSEDED)
        return len(reqs)

    def cancel_all(self, priority: Priority | None = None) -> None:
        with self._cond:
            reqs = [r for p, q in self._queues.items() if priority is None or p == priority for r in q]
        self._end(reqs, Status.CANCELLED)

    # ----- control ----------------------------------------------------------------------
    def pause(self) -> None:
        """Start no new batch until resume() (the batch in flight finishes)."""
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def pending(self) -> int:
        """Images queued and not yet rendered (jobs count what they have pulled so far)."""
        with self._cond:
            return sum(len(r.pending) for q in self._queues.values() for r in q if not r.finished)

    def idle(self, timeout: float | None = None) -> bool:
        """Wait until no request is unfinished; True if so within timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._cond:
                reqs = [r for q in self._queues.values() for r in q if not r.finished]
            if not reqs:
                return True
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return False
            reqs[0].event.wait(left)

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Cancel all queued work, stop the worker; True if it exited within timeout (it is a daemon
        thread either way, so a batch that never returns cannot hold up the process)."""
        with self._cond:
            self._stopping = True
            reqs = [r for q in self._queues.values() for r in q]
        self._end(reqs, Status.CANCELLED, "service shut down")
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    close = shutdown

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()

    # ----- worker -----------------------------------------------------------------------
    def _init_worker_state(self) -> None:
        self._model = None           # what the worker renders with (the generator or a private copy)
        self._prepared_gen = 0
        self._synth_fn = None        # torch.compile'd synthesize, None for eager
        self._batch: list = []       # the batch in flight
        self._per_image_s: float | None = None
        self._max_n_seen = 0
        self._sizer = BatchSizer()
        self._full_size: int | None = None   # the size a batch in the making counts as full at
        self._hooks: list = []               # layer hooks that stop a render when shutting down
        self._mem_cap: int | None = None
        self._oom_cap: int | None = None
        self._idle_task = None               # run by the worker when it has nothing else to do
        self._last_work = 0.0                # time.monotonic() when the worker last rendered

    @property
    def sizer(self) -> BatchSizer:
        """How the worker chooses its batch size (measured time per image by batch size)."""
        return self._sizer

    def batch_limit(self) -> int:
        """Largest batch the worker forms now (max_batch, or adapted to time per image and memory)."""
        cap = self.max_batch or MAX_ADAPTIVE_BATCH
        for c in (self._mem_cap, self._oom_cap):
            if c:
                cap = min(cap, c)
        if self.max_batch is None:      # the fastest measured size within the time bound
            if self._per_image_s is not None:
                cap = min(cap, max(1, int(self.batch_time_target / self._per_image_s)))
            cap = self._sizer.choose(cap)
        return max(1, cap)

    def _run(self) -> None:
        try:
            self._loop()
        except RenderInterrupted:          # shut down mid-batch: the batch was dropped between layers
            pass
        finally:
            for h in self._hooks:
                h.remove()
            self._hooks = []
            if self._splitter is not None:
                self._splitter.close()

    def _watch_layers(self, model) -> None:
        """Between two layers of a render, a service shutting down stops (a batch of a big model
        can take seconds; the process must not exit with a torch op still running). The hook is
        a plain function holding the service weakly: a model copied with it stays copyable."""
        for h in self._hooks:
            h.remove()
        synthesis = getattr(model, "synthesis", None)
        if not isinstance(synthesis, torch.nn.Module):
            self._hooks = []
            return
        me = weakref.ref(self)

        def interrupt(_module, _args) -> None:
            svc = me()
            if svc is not None and svc._stopping and svc._on_render_thread():
                raise RenderInterrupted()

        mods = [m for child in synthesis.children() for m in (child, *child.children())]
        between_layers(interrupt)       # the StyleGAN2 inference plan calls it between layers too
        self._hooks = [m.register_forward_pre_hook(interrupt) for m in mods]

    def _on_render_thread(self) -> bool:
        return threading.current_thread() is self._thread or (
            self._splitter is not None and self._splitter.owns_current_thread())

    def _loop(self) -> None:
        if self.device.type == "cpu" and self.num_threads != 0:
            threads = self.num_threads or default_num_threads()
            torch.set_num_threads(threads)
            torch.get_num_threads()   # torch's lazy per-thread set-up copies the process-wide number now
            workers = self.cpu_workers or default_cpu_workers(threads)
            if workers > 1:   # a batch's parts share the threads (a single face gets them all)
                self._splitter = BatchSplitter(workers, max(1, threads // workers))
        while True:
            idle_task = None
            with self._cond:
                while not self._stopping and (self._paused or not self._has_work_locked()):
                    if self._idle_task is not None and not self._paused:
                        # only after a quiet spell: at start-up the grid's requests arrive a moment
                        # after the first tile's, and must not wait behind a measurement
                        quiet = time.monotonic() - self._last_work
                        if quiet >= IDLE_TASK_DELAY_S:
                            idle_task, self._idle_task = self._idle_task, None
                            break
                        self._cond.wait(IDLE_TASK_DELAY_S - quiet)
                        continue
                    self._cond.wait()
                if self._stopping:
                    return
                if idle_task is None:
                    prio = next((p for p in Priority if self._queues[p]), None)
                    if prio is None:
                        continue
                    jobs = [r for r in self._queues[prio] if not r.finished and not r.exhausted]
            if idle_task is not None:
                try:
                    idle_task()
                except RenderInterrupted:
                    raise
                except Exception:  # a measurement only: rendering goes on without it
                    log.exception("render worker idle task failed")
                continue
            self._batch = []
            self._last_work = time.monotonic()
            try:
                self._step(prio, jobs)
            except RenderInterrupted:
                raise
            except Exception as e:  # a bug in here must not kill the worker nor spin on the same work
                log.exception("render worker step failed")
                reqs = {it.req for it in self._batch} or set(jobs)
                self._end(reqs, Status.ERROR, f"internal error: {type(e).__name__}: {e}")
            self._batch = []
            self._last_work = time.monotonic()

    def _has_work_locked(self) -> bool:
        for p, q in self._queues.items():
            if any(not r.finished for r in q):
                return True
            q.clear()
        return False

    def _step(self, prio: Priority, jobs: list) -> None:
        limit = self.batch_limit()
        self._full_size = limit
        since = time.monotonic() - self._last_interactive
        if prio > Priority.INTERACTIVE and since < self.interactive_holdoff:
            limit = max(1, limit // 4)  # the user is dragging: keep the next wait short
            self._full_size = None
        if jobs:
            self._top_up(jobs, limit)
        with self._cond:
            if any(not r.finished for p in Priority if p < prio for r in self._queues[p]):
                return  # something more urgent arrived while the job sources were read
            batch, thunks = self._take_batch_locked(prio, limit)
            gen, generator = self._model_gen, self._generator
            self._batch = batch
        _call_all(thunks)
        if not batch:
            return
        todo = [it for it in batch if it.image is None]
        results: dict = {}
        if todo:
            try:
                self._ensure_model(gen, generator)
                results = self._render_items(todo, prio)
            except RenderInterrupted:
                raise
            except Exception as e:  # preparing the model failed
                log.exception("could not prepare the generator for rendering")
                results = {id(it): f"{type(e).__name__}: {e}" for it in todo}
        self._deliver(batch, results)

    def _top_up(self, jobs: list, limit: int) -> None:
        """Pull items from job sources (outside the lock: a source may be slow) until a batch is full."""
        need, hits, thunks = limit, 0, []
        with self._cond:
            fp = self._fingerprint
        for req in jobs:
            have = sum(1 for it in req.pending if it.image is None)
            while have < need and not req.exhausted and not req.finished:
                try:
                    chunk = next(req.source)
                    ws = self._as_latents(chunk)
                except StopIteration:
                    req.exhausted = True
                    break
                except Exception as e:
                    with self._cond:
                        msg = f"job source: {type(e).__name__}: {e}"
                        thunks.append(self._finish_locked(req, Status.ERROR, msg))
                    break
                for row in ws:
                    i = req.next_index
                    req.next_index += 1
                    spec = self._resolve_noise(req.noise_fn(i))
                    key = (cache_key(fp, latent_digest(row), spec, req.size, self._precision_label(req.exact))
                           if req.cache else None)
                    img = self.cache.get(key) if key is not None else None
                    hits += img is not None
                    have += img is None
                    req.pending.append(RenderItem(req, i, row, spec, key, img))
            need -= have
            if need <= 0:
                break
        with self._cond:
            self.stats.cache_hits += hits
        _call_all(thunks)

    def _take_batch_locked(self, prio: Priority, limit: int):
        """Head request of the class, then later compatible items of the same class, in order."""
        items, thunks, compat, n = [], [], None, 0
        q = self._queues[prio]
        for req in q:
            if req.finished:
                continue
            if req.model_gen != self._model_gen:
                thunks.append(self._finish_locked(req, Status.SUPERSEDED, "model changed"))
                continue
            while req.pending:
                it = req.pending[0]
                if it.image is None:
                    key = (req.size, req.preview, req.exact) + it.noise.batch_key
                    if compat is None:
                        compat = key
                    elif key != compat or n >= limit:
                        break
                    n += 1
                items.append(req.pending.popleft())
                req.in_flight += 1
            if req.complete() and not req.finished:  # e.g. an empty job
                thunks.append(self._finish_locked(req, Status.OK))
            if n >= limit:
                break
        self._queues[prio] = deque(r for r in q if not r.finished)
        return items, thunks

    def _ensure_model(self, gen: int, generator) -> None:
        if self._prepared_gen == gen:
            return
        model = generator
        if not _same_device(_module_device(generator), self.device) or "channels_last" in self.optimize:
            model = copy.deepcopy(generator).to(self.device)
            if "channels_last" in self.optimize:
                model = model.to(memory_format=torch.channels_last)
        synthesis = getattr(model, "synthesis", None)
        if hasattr(synthesis, "set_channels_last") and (self.device.type == "cpu" or "channels_last" in self.optimize):
            # NHWC activations: the same pictures (within 3e-5) 12-23% faster on this CPU, from the
            # default model to SG2-1024 (bench/bench_render.py --compare-layouts). The setting lives
            # on the model, so the window's other uses of it (exports, projection) get it too.
            synthesis.set_channels_last(True)
        self._model, self._synth_fn = model, None
        self._watch_layers(model)
        if "compile" in self.optimize:
            try:
                self._synth_fn = torch.compile(model.synthesize, **self.compile_options)
            except Exception as e:
                self._compile_failed(e)
        self._prepared_gen = gen
        self._per_image_s, self._max_n_seen, self._mem_cap, self._oom_cap = None, 0, None, None
        if self._auto_precision:
            self._set_precision(self._precision_memory.get(self._precision_key()))
            choice = self.precision_choice
            if choice is not None and not choice.forms_measured:   # measured, then closed before idle
                one = torch.from_numpy(np.zeros((1, self._info.num_ws, self._info.w_dim), np.float32))
                self._schedule_forms(one.to(self.device), "const", None, 1.0, None, None, None)

    def _precision_key(self) -> str:
        return PrecisionMemory.key(self._fingerprint, self.device.type, torch.get_num_threads())

    def _set_precision(self, choice: PrecisionChoice | None) -> None:
        self.precision_choice = choice
        self.dtype = choice.torch_dtype if choice is not None else torch.float32
        apply_modconv_forms(self._model, choice.fused_layers if choice is not None else ())
        self.precision = str(self.dtype).replace("torch.", "")
        if choice is not None:
            log.info("render precision for %s: %s", self._info.resolution, choice.reason)

    def _calibrate_precision(self, ws, mode, seeds, strength, layers, maps, preview, size, u8_32, per_face_32):
        """After a float32 batch: its first face again in bfloat16; keep bfloat16 if it agrees and is faster."""
        t0 = time.perf_counter()
        one = (seeds[:1] if seeds is not None else None, maps[:1] if maps is not None else None)
        u8_bf = to_uint8(resize_images(self._synthesize(ws[:1], mode, one[0], strength, layers, one[1], preview,
                                                        dtype=CANDIDATE_DTYPE), size))
        choice = decide_precision(psnr_u8(u8_bf, u8_32[:1]), per_face_32 / max(time.perf_counter() - t0, 1e-9))
        self._set_precision(choice)
        self._precision_memory.put(self._precision_key(), choice)
        self._schedule_forms(ws[:1].clone(), mode, one[0], strength, layers, one[1], preview)

    def _schedule_forms(self, ws1, mode, seeds, strength, layers, maps, preview) -> None:
        """When the worker has had nothing to do for a while: the speed of bfloat16 against float32
        timed again (three interleaved one-face renders each; the first batch's figure was one cold
        sample), then the modulated-conv form per layer at batch 1 in the chosen precision
        (StyleGAN2 only)."""
        gen = self._prepared_gen

        def measure():
            choice = self.precision_choice
            if self._prepared_gen != gen or choice is None or choice.forms_measured:
                return
            with torch.inference_mode():
                if choice.psnr_db >= PRECISION_TOLERANCE_DB:
                    # the first batch's speed-up was one cold sample: time both again, interleaved
                    def one(dt):
                        t0 = time.perf_counter()
                        self._synthesize(ws1, mode, seeds, strength, layers, maps, preview, dtype=dt)
                        return time.perf_counter() - t0
                    t32, tbf = [], []
                    for _ in range(3):
                        t32.append(one(torch.float32))
                        tbf.append(one(CANDIDATE_DTYPE))
                    speedup = float(np.median(t32)) / max(float(np.median(tbf)), 1e-9)
                    choice = decide_precision(choice.psnr_db, speedup)
                    self._set_precision(choice)
                dtype = choice.torch_dtype
                if plan_serves(self._model, self.device, dtype):
                    fused = ()      # the StyleGAN2 inference plan has one form (generators/sg2_plan.py)
                else:
                    fused = choose_modconv_forms(self._model, lambda: self._synthesize(
                        ws1, mode, seeds, strength, layers, maps, preview, dtype=dtype))
            choice = dataclasses.replace(choice, fused_layers=fused, forms_measured=True)
            self._set_precision(choice)
            self._precision_memory.put(self._precision_key(), choice)
        self._idle_task = measure

    def _compile_failed(self, e: Exception) -> None:
        log.warning("torch.compile unusable here (%s: %s); rendering eagerly", type(e).__name__, e)
        self._synth_fn = None
        with self._cond:
            self.stats.compile_fallbacks += 1

    def _render_items(self, items: list, prio: Priority) -> dict:
        """{id(item): uint8 image or error text}; splits on out-of-memory, isolates failing requests."""
        out: dict = {}
        try:
            for it, img in zip(items, self._render_chunk(items, prio)):
                out[id(it)] = img
        except RenderInterrupted:
            raise
        except Exception as e:
            if is_oom(e):
                self._after_oom(len(items))
                if len(items) == 1:
                    out[id(items[0])] = f"out of memory rendering a single image: {e}"
                else:
                    h = len(items) // 2
                    out.update(self._render_items(items[:h], prio))
                    out.update(self._render_items(items[h:], prio))
                return out
            groups: dict = {}
            for it in items:
                groups.setdefault(it.req.id, []).append(it)
            if len(groups) > 1:  # find whose items fail
                for group in groups.values():
                    out.update(self._render_items(group, prio))
            else:
                log.warning("render request %d failed: %s: %s", items[0].req.id, type(e).__name__, e)
                out.update({id(it): f"{type(e).__name__}: {e}" for it in items})
        return out

    def _render_chunk(self, items: list, prio: Priority) -> list:
        t0 = time.perf_counter()
        dev, n, size = self.device, len(items), items[0].req.size
        ws = torch.from_numpy(np.stack([it.ws for it in items])).to(dev)
        mode, strength, layers = items[0].noise.batch_key
        seeds = [it.noise.seed for it in items] if mode == "random" else None
        maps = [it.noise.maps for it in items] if mode == "maps" else None
        base = 0
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
            base = torch.cuda.memory_allocated(dev)
        with torch.inference_mode():
            preview = _preview_size(size) if items[0].req.preview else None
            exact = items[0].req.exact and self._auto_precision
            u8 = to_uint8(resize_images(self._synthesize(ws, mode, seeds, strength, layers, maps, preview,
                                                         dtype=torch.float32 if exact else None), size))
            dt = time.perf_counter() - t0
            if self._auto_precision and self.precision_choice is None and not exact:
                self._calibrate_precision(ws, mode, seeds, strength, layers, maps, preview, size, u8, dt / n)
        out = [u8[i].copy() for i in range(n)]  # own buffers: exact cache accounting
        for it in items:
            it.req.render_s += dt / n
        self._record_batch(prio, n, dt, base)
        return out

    def _synthesize(self, ws, mode, seeds, strength, layers=None, maps=None, preview_size=None, dtype=None):
        splitter = self._splitter
        if splitter is None or self._synth_fn is not None or ws.shape[0] < 2 * MIN_PART:
            return self._synthesize_whole(ws, mode, seeds, strength, layers, maps, preview_size, dtype)
        inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

        def part(lo: int, hi: int) -> torch.Tensor:   # on a helper thread too: thread-local modes again
            with torch.set_grad_enabled(grad), torch.inference_mode(inference):
                return self._synthesize_whole(ws[lo:hi], mode, None if seeds is None else seeds[lo:hi], strength,
                                              layers, None if maps is None else maps[lo:hi], preview_size, dtype)
        before = splitter.split_batches
        out = splitter.run(ws.shape[0], part)
        if splitter.split_batches != before:
            with self._cond:
                self.stats.split_batches += 1
        return out

    def _synthesize_whole(self, ws, mode, seeds, strength, layers=None, maps=None, preview_size=None, dtype=None):
        dtype = dtype or self.dtype
        dtype = None if dtype == torch.float32 else dtype
        if mode == "maps":        # each image its own explicit maps, stacked per noise input
            from .noise import NOISE_MAPS

            per_image = [NOISE_MAPS.get(m) for m in maps]
            noise = [torch.from_numpy(np.stack([p[j] for p in per_image]))[:, None].to(ws.device)
                     for j in range(len(per_image[0]))]
            return self._model.synthesize(ws, noise_mode="const", noise=noise, noise_strength=strength, dtype=dtype,
                                          preview_size=preview_size)
        if self._synth_fn is not None:
            try:  # noise passed as tensors: per-image seeds would otherwise be baked into guards
                noise = self._model.make_noise(len(seeds), seeds, layers) if mode == "random" else None
                return self._synth_fn(ws, noise_mode="const" if mode == "random" else mode, noise=noise,
                                      noise_strength=strength, dtype=dtype, preview_size=preview_size)
            except Exception as e:
                if is_oom(e) or isinstance(e, RenderInterrupted):
                    raise
                self._compile_failed(e)
        return self._model.synthesize(ws, noise_mode=mode, noise_seed=seeds, noise_strength=strength,
                                      noise_layers=layers, dtype=dtype, preview_size=preview_size)

    def _record_batch(self, prio: Priority, n: int, dt: float, base: int) -> None:
        if self._per_image_s is None or n * 2 >= self._max_n_seen:  # small batches mislead on GPUs
            new = dt / n
            self._per_image_s = new if self._per_image_s is None else 0.7 * self._per_image_s + 0.3 * new
        self._max_n_seen = max(self._max_n_seen, n)
        if n == self._full_size and self.max_batch is None:
            self._sizer.record(n, dt)
        if self.device.type == "cuda":
            per = max(1, torch.cuda.max_memory_allocated(self.device) - base) / n
            free, _ = torch.cuda.mem_get_info(self.device)
            spare = free + torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
            self._mem_cap = max(1, int(0.8 * spare / per))
        with self._cond:
            self.stats.batches += 1
            self.stats.images_rendered += n
            self.stats.batch_log.append(BatchRecord(prio, n, dt, time.perf_counter()))

    def _after_oom(self, n: int) -> None:
        self._oom_cap = max(1, min(self._oom_cap or n, n // 2))
        with self._cond:
            self.stats.oom_splits += 1
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _deliver(self, batch: list, results: dict) -> None:
        for it in batch:
            img = results.get(id(it))
            if it.image is None and it.key is not None and isinstance(img, np.ndarray):
                self.cache.put(it.key, img)
        thunks, streamed = [], {}
        with self._cond:
            for it in batch:
                req = it.req
                req.in_flight -= 1
                img = it.image if it.image is not None else results.get(id(it), "not rendered")
                if req.finished:
                    continue
                if not isinstance(img, np.ndarray):
                    thunks.append(self._finish_locked(req, Status.ERROR, img))
                    continue
                req.count += 1
                if req.source is None:
                    req.images[it.index] = img
                elif req.collect:
                    req.images.append(img)
                    req.from_cache.append(it.image is not None)
                    req.noise.append(it.noise)
                streamed.setdefault(req, (it.index, []))[1].append(img)
            for req, (start, imgs) in streamed.items():
                if req.finished:
                    continue
                if req.on_images is not None:
                    thunks.append(functools.partial(req.on_images, start, imgs))
                if req.on_progress is not None:
                    thunks.append(functools.partial(req.on_progress, req.count, req.total))
                if req.complete():
                    thunks.append(self._finish_locked(req, Status.OK))
        _call_all(thunks)

    # ----- helpers ----------------------------------------------------------------------
    def _end(self, reqs, status: Status, error: str | None = None) -> bool:
        with self._cond:
            thunks = [self._finish_locked(r, status, error) for r in reqs]
        _call_all(thunks)
        return any(t is not None for t in thunks)

    def _finish_locked(self, req: RenderRequest, status: Status, error: str | None = None):
        """Mark req ended (lock held); returns the thunk (callback, then wake waiters) that the
        caller must run after releasing the lock."""
        if req.finished:
            return None
        req.status, req.error = status, error
        if status is not Status.OK:
            unpulled = req.total - req.next_index if req.source is not None and req.total is not None else 0
            self.stats.dropped += len(req.pending) + max(0, unpulled)
            req.pending.clear()
            req.exhausted = True
        if status is Status.SUPERSEDED:
            self.stats.superseded += 1
        elif status is Status.CANCELLED:
            self.stats.cancelled += 1
        elif status is Status.ERROR:
            self.stats.errors += 1
        if req.token is not None:
            peers = self._tokens.get(req.token)
            if peers is not None:
                peers.discard(req)
                if not peers:
                    del self._tokens[req.token]
        req.result = RenderResult(req.id, status, req.images, req.from_cache, req.noise, req.count,
                                  req.render_s * 1000.0, (time.perf_counter() - req.t_submit) * 1000.0,
                                  error, req.token, req.priority, req.size, req.preview)
        return functools.partial(_complete, req)

    def _as_latents(self, latents) -> np.ndarray:
        if isinstance(latents, (list, tuple)):
            latents = [_to_numpy(x) for x in latents]
            latents = np.concatenate([x[None] if x.ndim == 2 else x for x in latents]) if latents else \
                np.zeros((0, self._info.num_ws, self._info.w_dim), np.float32)
        ws = _to_numpy(latents)
        if ws.ndim == 2:
            ws = ws[None]
        shape = (self._info.num_ws, self._info.w_dim)
        if ws.ndim != 3 or ws.shape[1:] != shape:
            raise ValueError(f"latents must be [N, {shape[0]}, {shape[1]}] ws, got {list(ws.shape)}")
        return ws

    def _check_size(self, size) -> int:
        res = self._info.resolution
        size = res if size is None else int(size)
        top = max(res, min(4096, 8 * res))     # as clip exports: up to 8x (Lanczos), at most 4096 px
        if not 1 <= size <= top:
            raise ValueError(f"size must be in 1..{top}, got {size}")
        return size

    def _resolve_noise(self, spec: NoiseSpec) -> NoiseSpec:
        spec = spec.canonical(self._has_noise)
        if spec.mode == "maps":
            from .noise import NOISE_MAPS

            sides = [int(a.shape[0]) for a in NOISE_MAPS.get(spec.maps)]
            if sides != self._noise_sides:
                raise ValueError(f"these noise maps ({len(sides)} maps) were made for another model "
                                 f"(this one has {len(self._noise_sides)} noise inputs)")
        if spec.mode == "random" and spec.seed is None:
            spec = NoiseSpec("random", secrets.randbits(31), spec.strength, spec.layers)
        return spec


PREVIEW_UPSCALE = 1.25   # a preview may be shown up to this much larger than its block (144 px from 128)


def _preview_size(size: int) -> int:
    return max(1, math.ceil(int(size) / PREVIEW_UPSCALE))


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float32).numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


def _module_device(m) -> torch.device:
    dev = getattr(m, "device", None)
    if dev is None:
        dev = next(m.parameters()).device
    return torch.device(dev)


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index or 0) == (b.index or 0)


def _count(latents) -> int | None:
    """Number of latents in an array or a list of them; None for other iterables."""
    if isinstance(latents, (np.ndarray, torch.Tensor)):
        return int(latents.shape[0]) if latents.ndim == 3 else 1
    if isinstance(latents, (list, tuple)):
        return sum(int(x.shape[0]) if np.ndim(x) == 3 else 1 for x in latents)
    return None


def _chunks(latents):
    if isinstance(latents, (np.ndarray, torch.Tensor)) and latents.ndim in (2, 3):
        yield latents
        return
    yield from latents


def _parse_optimize(optimize) -> frozenset:
    if optimize in (None, "none", ""):
        return frozenset()
    parts = optimize.replace("+", ",").split(",") if isinstance(optimize, str) else list(optimize)
    parts = {p.strip() for p in parts if p and p.strip() != "none"}
    bad = parts - set(_OPTIMIZATIONS)
    if bad:
        raise ValueError(f"unknown optimize option(s) {sorted(bad)}; choose from {_OPTIMIZATIONS}")
    return frozenset(parts)


def _complete(req: RenderRequest) -> None:
    """Run the completion callback, then release waiters (so wait() sees every callback's effect)."""
    try:
        if req.callback is not None:
            req.callback(req.result)
    finally:
        req.event.set()


def _call_all(thunks) -> None:
    for t in thunks:
        if t is not None:
            try:
                t()
            except Exception:  # a caller's callback must not break the service
                log.exception("render callback failed")
