"""Choosing the render precision on a CPU: bfloat16 where it keeps the pictures and is faster.

A CPU with AVX-512 BF16 or AMX runs StyleGAN convolutions in bfloat16 about twice as fast as in
float32 (SG2-256 on this 2-core EPYC: 317 vs 655 ms a face at batch 1). Whether the pictures stay
the same depends on the model, so the render service measures it once per model on its first
batch: the batch is rendered in float32 (and delivered), its first face again in bfloat16, and
bfloat16 is kept only when

- the two 8-bit pictures agree to at least TOLERANCE_DB of PSNR (38 dB: differences of one or
  two grey levels in places, invisible; measured 40-58 dB on SG2 256/1024, SG3-T and the default
  model), and
- bfloat16 took at most 1/MIN_SPEEDUP of float32's time per face.

The choice is remembered per model, device, torch version and thread count in the user's cache
folder (`precision.json`), so later sessions start in the chosen precision at once.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

TOLERANCE_DB = 38.0
MIN_SPEEDUP = 1.15
CANDIDATE = torch.bfloat16


@dataclass(frozen=True)
class PrecisionChoice:
    dtype: str           # 'bfloat16' or 'float32'
    psnr_db: float       # bfloat16 vs float32, 8-bit pictures (inf: identical)
    speedup: float       # float32 time / bfloat16 time per face
    reason: str          # one line for the log and the status bar's tooltip
    fused_layers: tuple = ()   # StyleGAN2 layers faster in the fused modulated-conv form at batch 1
    forms_measured: bool = False   # fused_layers comes from a measurement (done when the worker is idle)

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)


def cpu_has_fast_bf16() -> bool:
    """oneDNN reports native bfloat16 (AVX-512 BF16 / AMX) on this CPU."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # older builds without the probe
        return False


def psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    """Smallest PSNR (dB) over the pictures of two uint8 batches of the same shape."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    mse = ((a - b) ** 2).mean(axis=1)
    worst = float(mse.max()) if len(mse) else 0.0
    return float("inf") if worst == 0 else float(10 * np.log10(255.0 ** 2 / worst))


def decide(psnr_db: float, speedup: float) -> PrecisionChoice:
    if psnr_db < TOLERANCE_DB:
        return PrecisionChoice("float32", psnr_db, speedup,
                               f"bfloat16 changes this model's pictures ({psnr_db:.1f} dB < {TOLERANCE_DB:g} dB)")
    if speedup < MIN_SPEEDUP:
        return PrecisionChoice("float32", psnr_db, speedup,
                               f"bfloat16 is not faster here ({speedup:.2f}x)")
    return PrecisionChoice("bfloat16", psnr_db, speedup,
                           f"bfloat16: {speedup:.2f}x faster, {psnr_db:.1f} dB against float32")


class PrecisionMemory:
    """precision.json in a folder: {key: PrecisionChoice fields}; atomic writes, bad file = empty."""

    def __init__(self, folder: Path | None):
        self.path = None if folder is None else Path(folder) / "precision.json"
        self._lock = threading.Lock()

    @staticmethod
    def key(fingerprint: str, device: str, threads: int) -> str:
        return f"{fingerprint}|{device}|torch {torch.__version__}|{threads} threads"

    def _read(self) -> dict:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> PrecisionChoice | None:
        with self._lock:
            entry = self._read().get(key)
        try:
            if isinstance(entry, dict):
                entry = dict(entry, fused_layers=tuple(str(n) for n in entry.get("fused_layers", ())))
            choice = PrecisionChoice(**entry) if isinstance(entry, dict) else None
        except TypeError:
            return None
        return choice if choice is not None and choice.dtype in ("bfloat16", "float32") else None

    def put(self, key: str, choice: PrecisionChoice) -> None:
        if self.path is None:
            return
        with self._lock:
            data = self._read()
            data[key] = dict(asdict(choice), fused_layers=list(choice.fused_layers))
            if len(data) > 200:  # oldest first (insertion order)
                data = dict(list(data.items())[-200:])
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".precision-", suffix=".json")
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(data, f, indent=1)
                os.replace(tmp, self.path)
            except OSError as e:  # a full disk only costs the memory of the choice
                log.warning("could not remember the render precision: %s", e)


# ----- the modulated-convolution form, per layer, at batch 1 ---------------------------------------------
FUSED_MARGIN = 0.9   # the fused form must take at most this share of the unfused form's time


def modconv_layers(model) -> list[tuple[str, object]]:
    """(name, module) of every StyleGAN2 modulated layer (conv and toRGB) of a generator."""
    from .generators.stylegan2 import SynthesisLayer, ToRGBLayer

    synthesis = getattr(model, "synthesis", None)
    if synthesis is None:
        return []
    return [(n, m) for n, m in synthesis.named_modules() if isinstance(m, (SynthesisLayer, ToRGBLayer))]


def apply_modconv_forms(model, fused_layers) -> None:
    chosen = set(fused_layers)
    for name, module in modconv_layers(model):
        module.fused_at_batch1 = name in chosen


def choose_modconv_forms(model, render_one, repeats: int = 2) -> tuple:
    """Time every modulated layer in both forms over `render_one()` (a batch-1 render as the service
    runs it), interleaved, median of `repeats`; the layers where the fused form is clearly faster
    (<= FUSED_MARGIN of the time). Leaves those layers set to it."""
    layers = modconv_layers(model)
    if not layers:
        return ()
    times: dict = {}
    state = {"fused": False}
    hooks = []
    for name, module in layers:
        def pre(_m, _inp, name=name):
            times.setdefault((name, state["fused"]), []).append(-time.perf_counter())

        def post(_m, _inp, _out, name=name):
            times[(name, state["fused"])][-1] += time.perf_counter()
        hooks += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        for _ in range(repeats):
            for fused in (False, True):
                state["fused"] = fused
                apply_modconv_forms(model, [n for n, _ in layers] if fused else [])
                render_one()
    finally:
        for h in hooks:
            h.remove()
    chosen = tuple(n for n, _ in layers
                   if (n, True) in times and (n, False) in times
                   and float(np.median(times[(n, True)])) <= FUSED_MARGIN * float(np.median(times[(n, False)])))
    apply_modconv_forms(model, chosen)
    return chosen
