"""Our StyleGAN2 / StyleGAN3-T synthesis against NVIDIA's own code on the same weights (printed, never asserted).

    .venv/bin/python bench/bench_vs_nvidia.py --nvidia-repo /path/to/stylegan3 [--res 256 1024] [--sg3-res 256]

NVIDIA's repository (github.com/NVlabs/stylegan3, which holds their StyleGAN2 networks too) is
imported from the checkout you name, never copied here. A random config-F (and StyleGAN3-T) generator is built with
their code (reference ops on the CPU, fp32), pickled as their tools pickle it, and loaded with
ours (`load_generator`, the safe unpickler), so both run exactly the same weights; the max
difference of the pictures is printed. Then synthesis time per image, interleaved, median of
--repeats, at batch 1 and 4 (SG3: 1): NVIDIA's; ours float32 channels-last (what the render
service uses on a CPU); ours bfloat16 (what precision 'auto' picks on a CPU with native bfloat16
when the pictures stay within 38 dB), with its PSNR against our float32. Ratio < 1: we are faster.
"""
from __future__ import annotations

import argparse
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
    ap.add_argument("--res", type=int, nargs="+", default=[256, 1024], help="StyleGAN2 config-F resolutions")
    ap.add_argument("--sg3-res", type=int, nargs="*", default=[256], help="StyleGAN3-T resolutions")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    sys.path[:0] = [args.nvidia_repo, _shims(), str(ROOT)]
    torch.set_num_threads(args.threads)
    from training.networks_stylegan2 import Generator as NvidiaSG2  # their code, from their checkout
    from training.networks_stylegan3 import Generator as NvidiaSG3

    from explorer import load_generator
    from explorer.generators.generator import to_uint8
    from explorer.precision import cpu_has_fast_bf16, psnr_u8

    print(f"{args.threads} thread(s); ms per image, median of {args.repeats} interleaved runs; ours as the render "
          "service runs it on a CPU (channels-last); bf16: the precision 'auto' picks where the CPU has native "
          "bfloat16 and the pictures stay within 38 dB (PSNR of 8-bit pictures against our float32)")
    print(f"native bfloat16 on this CPU: {cpu_has_fast_bf16()}")
    print("| model | batch | NVIDIA | ours fp32 | ratio | ours bf16 | ratio | bf16 PSNR dB | fp32 max abs diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    cases = [("SG2 config F", res, (1, 4)) for res in args.res] + [("SG3-T", res, (1,)) for res in args.sg3_res]
    for name, res, batches in cases:
        torch.manual_seed(0)
        if name.startswith("SG2"):
            theirs = NvidiaSG2(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3,
                               mapping_kwargs=dict(num_layers=8), channel_base=32768, channel_max=512,
                               num_fp16_res=0, conv_clamp=None).eval().requires_grad_(False)
        else:
            theirs = NvidiaSG3(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3,
                               mapping_kwargs=dict(num_layers=2), channel_base=32768, channel_max=512,
                               num_fp16_res=0, conv_kernel=3).eval().requires_grad_(False)
        buf = io.BytesIO()
        pickle.dump({"G_ema": theirs}, buf)
        path = Path(tempfile.mkdtemp()) / f"nvidia-{res}.pkl"
        path.write_bytes(buf.getvalue())
        ours = load_generator(str(path), device="cpu").eval()
        if hasattr(ours.synthesis, "set_channels_last"):
            ours.synthesis.set_channels_last(True)
        with torch.no_grad():
            ws = theirs.mapping(torch.randn(4, 512), None, truncation_psi=0.7)
            if name.startswith("SG2"):
                run_theirs = lambda b: theirs.synthesis(ws[:b], noise_mode="const", force_fp32=True)  # noqa: E731
            else:
                run_theirs = lambda b: theirs.synthesis(ws[:b], force_fp32=True)  # noqa: E731
            b0 = 2 if name.startswith("SG2") else 1
            ref = ours.synthesize(ws[:b0])
            diff = float((run_theirs(b0) - ref).abs().max())
            psnr = psnr_u8(to_uint8(ours.synthesize(ws[:b0], dtype=torch.bfloat16)), to_uint8(ref))
            for b in batches:
                t = {"nvidia": [], "fp32": [], "bf16": []}
                for _ in range(args.repeats):
                    for key, fn in (("nvidia", lambda: run_theirs(b)), ("fp32", lambda: ours.synthesize(ws[:b])),
                                    ("bf16", lambda: ours.synthesize(ws[:b], dtype=torch.bfloat16))):
                        t0 = time.perf_counter()
                        fn()
                        t[key].append((time.perf_counter() - t0) * 1000 / b)
                n, o, c = (statistics.median(t[k]) for k in ("nvidia", "fp32", "bf16"))
                print(f"| {name} {res} | {b} | {n:.0f} | {o:.0f} | {o / n:.2f} | {c:.0f} | {c / n:.2f} | {psnr:.1f} "
                      f"| {diff:.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
