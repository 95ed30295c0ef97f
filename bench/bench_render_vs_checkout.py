"""Render time of this checkout's code against another checkout's, on the same model, as the app
renders on a CPU (channels-last activations; with --forms, the per-layer modulated-conv forms the
render service calibrates at batch 1), in alternating processes so that a noisy machine drifts
equally on both sides.

    git worktree add /tmp/before HEAD~1
    python bench/bench_render_vs_checkout.py --other /tmp/before --rounds 5 --forms

Prints ms per image (median over rounds of each process's median; each process's fastest in
brackets) at batch 1 and 16 on 1 thread and on every core, and the ratio this / other.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def child(root: str, model: str, forms: bool) -> dict:
    """Runs inside a process whose `explorer` comes from `root`."""
    sys.path.insert(0, root)
    import torch

    from explorer import load_generator

    g = load_generator(model)
    if hasattr(g.synthesis, "set_channels_last"):
        g.synthesis.set_channels_last(True)
    rng = torch.Generator().manual_seed(0)
    z = torch.randn(16, g.info.z_dim, generator=rng)
    out: dict = {}
    with torch.inference_mode():
        ws = g.map(z, None)
        if forms:
            from explorer.precision import choose_modconv_forms
            torch.set_num_threads(1)
            out["fused layers"] = len(choose_modconv_forms(g, lambda: g.synthesize(ws[:1]), repeats=3))
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        for threads in sorted({1, cores}):
            torch.set_num_threads(threads)
            for b in (1, 16):
                for _ in range(2):
                    g.synthesize(ws[:b])                        # warm-up
                times = []
                for _ in range(12 if b == 1 else 4):
                    t0 = time.perf_counter()
                    g.synthesize(ws[:b])
                    times.append(1000 * (time.perf_counter() - t0) / b)
                out[f"batch {b}, {threads} thread{'s' if threads > 1 else ''}"] = times
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--other", help="root of the other checkout (its explorer/ is imported)")
    ap.add_argument("--model", default=str(HERE / "resources" / "default_model.safetensors"))
    ap.add_argument("--rounds", type=int, default=5, help="process pairs, alternating")
    ap.add_argument("--forms", action="store_true", help="calibrate the batch-1 conv forms as the app does")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model, args.forms)))
        return
    if not args.other:
        ap.error("--other CHECKOUT is required")
    sides = {"this": str(HERE), "other": str(Path(args.other).resolve())}
    runs: dict = {name: [] for name in sides}
    for r in range(args.rounds):
        for name, root in sides.items():
            cmd = [sys.executable, __file__, "--child", root, "--model", args.model] + (["--forms"] if args.forms else [])
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs[name].append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    keys = [k for k in runs["this"][0] if k != "fused layers"]
    print(f"ms per image, median of {args.rounds} processes' medians [fastest]; this = {sides['this']}, "
          f"other = {sides['other']}")
    if args.forms:
        print("fused layers chosen:", {n: [r["fused layers"] for r in runs[n]] for n in sides})
    print(f"{'':22s} {'this':>16s} {'other':>16s} {'this/other':>10s}")
    for k in keys:
        med = {n: statistics.median(statistics.median(r[k]) for r in runs[n]) for n in sides}
        best = {n: min(min(r[k]) for r in runs[n]) for n in sides}
        print(f"{k:22s} {med['this']:8.1f} [{best['this']:5.1f}] {med['other']:8.1f} [{best['other']:5.1f}] "
              f"{med['this'] / med['other']:10.2f}")


if __name__ == "__main__":
    main()
