"""CPU render time of the default model v2's architecture at several top-layer widths, side by side.

The issue's budget is <= 12 ms per image at batch 16 and <= 20 ms at batch 1 on two cores. The
neural renderer's 128 px layers have 16 channels (64 px: 32); `--channels-at` widens them. This
prints each width's time per image and its ratio to the committed width, measured round-robin in
one run (the machine is noisy), with the committed pack's weights widened (`widen.widen_state`).

    python bench/bench_renderer_width.py --threads 2 --widths '' 128:24 64:48
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer.generators import Generator  # noqa: E402
from explorer.training.neural_renderer import RendererConfig, renderer_generator_config  # noqa: E402
from explorer.training.widen import widen_state  # noqa: E402

PACK = ROOT / "training" / "default_v2_run.safetensors"


def generator(channels_at: str) -> Generator:
    from safetensors.torch import load_file

    g = Generator(renderer_generator_config(RendererConfig(channels_at=channels_at))).eval()
    state = {k.split(".", 1)[1]: v.float() for k, v in load_file(str(PACK)).items() if k.startswith("G_ema.")}
    g.load_state_dict(widen_state(state, g.state_dict()))
    g.synthesis.set_channels_last(True)           # as the app renders on a CPU (explorer/render.py)
    return g


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--widths", nargs="+", default=["", "128:24", "64:48", "64:48,128:24"],
                    help="--channels-at values ('': as committed)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gens = {w: generator(w) for w in args.widths}
    z = torch.randn(16, next(iter(gens.values())).info.z_dim, generator=torch.Generator().manual_seed(0))
    times = {(w, b): [] for w in gens for b in (1, 16)}
    with torch.inference_mode():
        ws = {w: g.map(z) for w, g in gens.items()}
        for w, g in gens.items():                      # warm-up
            g.synthesize(ws[w][:1]), g.synthesize(ws[w])
        for _ in range(args.rounds):                   # round-robin: each round times every width
            for w, g in gens.items():
                for b, reps in ((1, 8), (16, 2)):
                    t0 = time.perf_counter()
                    for _ in range(reps):
                        g.synthesize(ws[w][:b])
                    times[(w, b)].append(1000 * (time.perf_counter() - t0) / (reps * b))
    base = args.widths[0]
    print(f"CPU render, {args.threads} threads, ms per image (median of {args.rounds} rounds; ratio to "
          f"{base or 'the committed widths'})")
    print(f"{'channels_at':>14} {'channels 4..128 px':<26} {'params':>8} {'batch 1':>14} {'batch 16':>14}")
    for w, g in gens.items():
        ch = "/".join(str(c) for c in g.config["synthesis"]["channels"].values())
        cells = []
        for b in (1, 16):
            med = sorted(times[(w, b)])[len(times[(w, b)]) // 2]
            ref = sorted(times[(base, b)])[len(times[(base, b)]) // 2]
            cells.append(f"{med:6.1f} ({med / ref:4.2f}x)")
        params = sum(p.numel() for p in g.parameters()) / 1e6
        print(f"{w or '-':>14} {ch:<26} {params:>7.2f}M {cells[0]:>14} {cells[1]:>14}")
    print("budget (issue 13): <= 20 ms at batch 1, <= 12 ms at batch 16")
    return 0


if __name__ == "__main__":
    sys.exit(main())
