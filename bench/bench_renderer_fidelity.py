"""Drawing fidelity of neural-renderer training packs, side by side: does G(z) draw what z says?

For held-out seeds (20,000,000 up, each with its own noise maps), the attribute classifier on each
pack's G_ema output against the renderer's labels of the same z, beside the classifier on the
renders themselves (the judge's ceiling). A second judge that no pack trained against (the v1
classifier, renderer-1 labels only) guards against a pack learning the v2 classifier's blind spots
through the label loss. The model card's fidelity tables come from this script. Packs of either
z layout (renderer 2 or 3) draw the same portraits: a renderer-3 pack gets each seed's z lifted.

    python bench/bench_renderer_fidelity.py training/default_v2_run.safetensors /work/runs/wide_pack.safetensors --n 256

It also prints, per frequency band, G's power against the renders' and the power of G's error
(each face with its own noise maps, so the stochastic detail can match too): where the picture is
soft (low power) and where it draws detail in the wrong place (error near or above the renders'
power).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer.training import faces_v2 as V  # noqa: E402
from explorer.training.classifier import NUM_LABELS, AttributeClassifier, evaluate_predictions  # noqa: E402
from explorer.training.model_figures import laplacian_energy  # noqa: E402
from explorer.training.neural_renderer import networks_only, pack_config  # noqa: E402

SEED0 = 20_000_000
JUDGES = {"v2": ROOT / "resources" / "attribute_classifier.safetensors",
          "v1": ROOT / "training" / "attribute_classifier_v1.safetensors"}


def pack_outputs(path: str, seeds: list[int], scratch: Path) -> np.ndarray:
    t = networks_only(pack_config(path), scratch)
    t.load_pack(path)
    return np.concatenate([t.outputs(seeds[i:i + 32], items=True) for i in range(0, len(seeds), 32)])


BANDS = ((0, 1 / 16), (1 / 16, 1 / 8), (1 / 8, 3 / 16), (3 / 16, 1 / 4), (1 / 4, 3 / 8), (3 / 8, 1 / 2),
         (1 / 2, 0.71))   # cycles per pixel; 1/8 and 1/4 are the Nyquist limits of the 32 and 64 px blocks


def band_figures(img: np.ndarray, ref: np.ndarray) -> list[tuple[float, float]]:
    """Per frequency band (BANDS; grey level, each picture's mean removed, power summed over the
    faces): (G's power / the renders' power, power of G - render / the renders' power). A blur
    lowers the first and leaves the second below 1; an edge drawn in the wrong place keeps the
    first and raises the second towards 2 (uncorrelated)."""
    def spectrum(x):
        x = x.astype(np.float64).mean(-1)
        x = x - x.mean((1, 2), keepdims=True)
        return (np.abs(np.fft.fftshift(np.fft.fft2(x), axes=(1, 2))) ** 2).sum(0)
    res = ref.shape[1]
    yy, xx = np.mgrid[:res, :res] - res // 2
    r = np.hypot(xx, yy) / res
    p_ref, p_img = spectrum(ref), spectrum(img)
    p_err = spectrum(img.astype(np.float64) - ref.astype(np.float64))
    out = []
    for lo, hi in BANDS:
        m = (r >= lo) & (r < hi)
        out.append((float(p_img[m].sum() / p_ref[m].sum()), float(p_err[m].sum() / p_ref[m].sum())))
    return out


def score(metrics: dict) -> dict[str, float]:
    """One number per attribute: accuracy for categories, split accuracy for continuous ones."""
    out = {}
    for name, m in metrics["attributes"].items():
        v = m.get("acc", m.get("split_acc"))
        if isinstance(v, (int, float)):
            out[name] = float(v)
    return out


def column_names(paths: list[str]) -> list[str]:
    """Each pack's column: its file name, or parent/name where two packs share a file name (two
    runs' `pack.safetensors`), so that no column hides another."""
    names = [Path(p).name for p in paths]
    return [f"{Path(p).parent.name}/{n}" if names.count(n) > 1 else n for p, n in zip(paths, names)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("packs", nargs="+", help="neural-renderer training packs")
    ap.add_argument("--n", type=int, default=256, help="held-out faces")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = list(range(SEED0, SEED0 + args.n))
    renders, labels = map(np.stack, zip(*[V.render_seed_v2(s) for s in seeds]))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        outs = {name: pack_outputs(p, seeds, Path(tmp) / str(i))
                for i, (name, p) in enumerate(zip(column_names(args.packs), args.packs))}
    print(f"## pictures, {args.n} held-out faces: mean |G - render| (0..255) and sharpness (Laplacian energy, "
          f"G / renders)")
    for name, img in outs.items():
        l1 = float(np.abs(img.astype(np.float32) - renders.astype(np.float32)).mean())
        print(f"{name:40s} L1 {l1:6.2f}   sharpness {laplacian_energy(img) / laplacian_energy(renders):.3f}")
    print("\n## by spatial frequency: G's power / the renders' (error power / the renders') per band, cycles/px")
    print(f"{'band':16s}" + "".join(f"{n[:26]:>28s}" for n in outs))
    bands = {name: band_figures(img, renders) for name, img in outs.items()}
    for i, (lo, hi) in enumerate(BANDS):
        print(f"{lo:.3f}-{hi:.3f}     " + "".join(f"{f'{bands[n][i][0]:.3f} ({bands[n][i][1]:.3f})':>28s}"
                                                    for n in outs))
    for judge, path in JUDGES.items():
        clf = AttributeClassifier.load(path)
        lab = labels if clf.num_labels == labels.shape[1] else labels[:, :NUM_LABELS]
        cols = {"renders (ceiling)": score(evaluate_predictions(clf.predict(renders), lab))}
        cols.update({name: score(evaluate_predictions(clf.predict(img), lab)) for name, img in outs.items()})
        print(f"\n## {judge} judge ({path.name}), {args.n} held-out faces: accuracy (categories) or split "
              f"accuracy (continuous)")
        print(f"{'attribute':16s}" + "".join(f"{c[:26]:>28s}" for c in cols))
        for name in cols["renders (ceiling)"]:
            print(f"{name:16s}" + "".join(f"{cols[c].get(name, float('nan')):>28.3f}" for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
