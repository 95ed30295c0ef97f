"""Batch-1 latency on a GPU: one CUDA graph of a generator's synthesis, replayed per image.

At batch 1 a StyleGAN synthesis is hundreds of small kernels, and on a fast GPU launching them
costs more than running them. A CUDA graph records the launches once and replays them in one go.
The graph holds fixed input and output buffers, so it serves one batch size, one precision and
the stored ('const') noise; anything else, and every CPU device, takes the eager path.
"""
from __future__ import annotations

import contextlib

import torch


class GraphedSynthesis:
    """Callable ws -> images like `Generator.synthesize(ws, dtype=dtype)` (const noise)."""

    def __init__(self, gen, batch: int = 1, dtype: torch.dtype | None = None, warmup: int = 3):
        self.gen, self.batch, self.dtype = gen, int(batch), dtype
        self.graph = None
        self.error: str | None = None
        if gen.device.type == "cuda":
            try:
                self._capture(warmup)
            except RuntimeError as exc:      # an op that cannot be captured: stay eager
                self.graph, self.error = None, str(exc)

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def _precision(self):
        if self.dtype is None or self.dtype == torch.float32:
            return contextlib.nullcontext()
        # the weight-cast cache must be off while capturing (its tensors would not be the graph's)
        return torch.autocast(device_type="cuda", dtype=self.dtype, cache_enabled=False)

    def _run(self, ws: torch.Tensor) -> torch.Tensor:
        gen = self.gen
        with self._precision():
            if gen.info.arch == "stylegan3":
                return gen.synthesis(ws)
            return gen.synthesis(ws, gen._noise_list(ws.shape[0], "const", None, None, 1.0))

    @torch.no_grad()
    def _capture(self, warmup: int) -> None:
        info = self.gen.info
        self.ws = torch.zeros(self.batch, info.num_ws, info.w_dim, device=self.gen.device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):           # warm-up (cuDNN plans, allocator) off the capture
            for _ in range(max(1, warmup)):
                self._run(self.ws)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.out = self._run(self.ws)
        self.graph = graph

    @torch.no_grad()
    def __call__(self, ws: torch.Tensor) -> torch.Tensor:
        ws = torch.as_tensor(ws, dtype=torch.float32, device=self.gen.device)
        if self.graph is None or ws.shape != self.ws.shape:
            return self.gen.synthesize(ws, dtype=self.dtype)
        self.ws.copy_(ws)
        self.graph.replay()
        return self.out.float().clone()
