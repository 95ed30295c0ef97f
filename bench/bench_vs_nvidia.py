"""Our StyleGAN2 synthesis against NVIDIA's own code on the same weights (printed, never asserted).

    .venv/bin/python bench/bench_vs_nvidia.py --nvidia-repo /path/to/stylegan3 [--res 256 1024] [--threads 1]

NVIDIA's repository (github.com/NVlabs/stylegan3, which holds their StyleGAN2 networks too) is
imported from the checkout you name, never copied here. A random config-F generator is built with
their code (reference ops on the CPU, fp32), pickled as their tools pickle it, and loaded with
ours (`load_generator`, the safe unpickler), so both run exactly the same weights; the max
difference of the pictures is printed. Then synthesis time per image, interleaved, median of
--repeats, at batch 1 and 4: NVIDIA's, ours with NCHW activations, ours channels-last (what the
render service uses on a CPU). Ratio < 1: we are faster.
"""
from __future__ import annotations

import argparse
import copy
import io
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _shims() -> str:
    """Their dnnlib imports `requests` and `pkg_resources` at import time, neither needed here."""
    d = Path(tempfile.mkdtemp(prefix="nv-shims-"))
    (d / "requests").mkdir()
    (d / "requests" / "__init__.py").write_text("")
    (d / "pkg_resources.py").write_text("from packaging.version import parse as parse_version  # noqa: F401\n")
    return str(d)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nvidia-repo", required=True, help="a checkout of NVlabs/stylegan3")
    ap.add_argument("--res", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    sys.path[:0] = [args.nvidia_repo, _shims(), str(ROOT)]
    torch.set_num_threads(args.threads)
    from training.networks_stylegan2 import Generator as NvidiaGenerator  # their code, from their checkout

    from explorer import load_generator

    print(f"{args.threads} thread(s); ms per image, median of {args.repeats} interleaved runs")
    print("| model | batch | NVIDIA | ours NCHW | ratio | ours channels-last | ratio | max abs diff |")
    print("|---|---|---|---|---|---|---|---|")
    for res in args.res:
        torch.manual_seed(0)
        theirs = NvidiaGenerator(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3,
                                 mapping_kwargs=dict(num_layers=8), channel_base=32768, channel_max=512,
                                 num_fp16_res=0, conv_clamp=None).eval().requires_grad_(False)
        buf = io.BytesIO()
        pickle.dump({"G_ema": theirs}, buf)
        path = Path(tempfile.mkdtemp()) / f"nvidia-{res}.pkl"
        path.write_bytes(buf.getvalue())
        ours = load_generator(str(path), device="cpu").eval()
        ours.synthesis.set_channels_last(False)
        ours_cl = copy.deepcopy(ours)
        ours_cl.synthesis.set_channels_last(True)
        with torch.no_grad():
            ws = theirs.mapping(torch.randn(4, 512), None, truncation_psi=0.7)
            diff = float((theirs.synthesis(ws, noise_mode="const", force_fp32=True) - ours.synthesize(ws)).abs().max())
            for b in (1, 4):
                t = {"nvidia": [], "nchw": [], "cl": []}
                for _ in range(args.repeats):
                    for name, fn in (("nvidia", lambda: theirs.synthesis(ws[:b], noise_mode="const", force_fp32=True)),
                                     ("nchw", lambda: ours.synthesize(ws[:b])), ("cl", lambda: ours_cl.synthesize(ws[:b]))):
                        t0 = time.perf_counter()
                        fn()
                        t[name].append((time.perf_counter() - t0) * 1000 / b)
                n, o, c = (statistics.median(t[k]) for k in ("nvidia", "nchw", "cl"))
                print(f"| SG2 config F {res} | {b} | {n:.0f} | {o:.0f} | {o / n:.2f} | {c:.0f} | {c / n:.2f} | {diff:.1e} |",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
