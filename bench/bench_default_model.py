"""Figures of the default model and its directions, judged by the attribute classifier.

  1. CPU render time per image at batch 1 and 16, as the app renders (channels-last, one thread and
     all cores, and a batch split into parts on one-thread workers as the window renders on up to 2
     cores), beside --speed-vs models in the same rounds, and each StyleGAN2 model also through its
     modules (the inference plan, explorer/generators/sg2_plan.py, stepped aside)
  2. Fréchet distance real vs generated in the classifier's feature space (and real vs real, the
     floor for that sample size)
  3. per-attribute distribution match (classifier on real faces vs on generated faces)
  4. per direction: SVM validation accuracy; edit efficacy (share of faces the classifier calls
     negative that it calls positive after a +amount move, in scale units) and leakage (mean
     absolute change of the other attributes' soft scores), raw and conditioned on the others
  5. style-mixing sanity: which attributes follow the source when its coarse / medium / fine
     styles are copied into a destination (pose and face width should follow coarse, colours fine)
  6. judge-free (no classifier; `--judge-free-only` runs just these and the render time):
     sharpness (Laplacian energy generated / real renders, same size), per mixed group the share
     of mixes whose edge structure / colour histogram follows the source, and the mean pixel
     change when all noise or one group's noise is redrawn
  7. judged by the classifier: attribute readings kept when the noise is redrawn, and how often
     the antiface lies on the other side of the median (skin tone, age, pose, light)
  8. for a neural-renderer model (z slots name drawing parameters): drawing fidelity, the
     classifier on G(z) against the labels z stands for

The real faces are the model's own renderer's renders of held-out seeds for a neural-renderer
model (the shipped default model), else `--data` (a dataset from make-faces).

    .venv/bin/python bench/bench_default_model.py --threads 1 --fid-samples 1000 --edit-samples 100 \
        --mix-pairs 200 --judge-free-samples 200          # the shipped model, its classifier and directions
    .venv/bin/python bench/bench_default_model.py --speed-only --speed-vs PREVIOUS_MODEL.safetensors
    # smoke test on a tiny random model:
    .venv/bin/python bench/bench_default_model.py --tiny --fid-samples 64 --edit-samples 16 --mix-pairs 16
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer import load_generator  # noqa: E402
from explorer.directions import DirectionModelError, condition, load_directions  # noqa: E402
from explorer.edits import mix_layers  # noqa: E402
from explorer.generators import Generator, stylegan2_config  # noqa: E402
from explorer.training.classifier import (AttributeClassifier, attribute_distribution_match,  # noqa: E402
                                          frechet_distance, hard_labels, soft_targets)
from explorer.training.default_directions import label_ws, seeds_ws  # noqa: E402
from explorer.training.faces import ATTRIBUTES, FaceDataset, binary_targets, label_slices, render_face  # noqa: E402

RESOURCES = ROOT / "resources"
BENCH_SEED = 10_000_000          # disjoint from the seeds the directions were fitted on
MIX_FOLLOW = {"coarse": ("yaw", "tilt", "face_width"), "fine": ("skin_tone", "hair_color", "bg_color",
                                                                "clothing_color")}


def real_faces(data: str | None, n: int, seed: int = 0, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n real faces (uint8 images, ground-truth labels): from the dataset file, else rendered."""
    if data and Path(data).is_file():
        ds = FaceDataset(data)
        idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[offset:offset + n])
        return ds.batch(idx)
    imgs, labs = zip(*(render_face(5_000_000 + offset + i) for i in range(n)))
    return np.stack(imgs), np.stack(labs)


def _time_calibrated_forms(prepared: dict, out: dict, threads: int, rounds: int) -> None:
    """A single face as the render services draw it after their idle-time calibration: each
    StyleGAN2 layer in the modulated-conv form timed faster at batch 1 (explorer.precision.
    choose_modconv_forms, the styles folded into the weight where that wins), on the same thread
    count; the forms are reset afterwards. Rows only for models that have such layers."""
    from explorer.precision import apply_modconv_forms, choose_modconv_forms, modconv_layers

    key = f"batch 1, {threads} thread{'s' if threads > 1 else ''}, calibrated conv forms"
    with torch.inference_mode():
        chosen = {name: choose_modconv_forms(g, lambda g=g, ws=ws: g.synthesize(ws[:1]), repeats=3)
                  for name, (g, ws) in prepared.items() if modconv_layers(g)}
        try:
            for _ in range(rounds):
                for name in chosen:
                    g, ws = prepared[name]
                    t0 = time.perf_counter()
                    for _ in range(4):
                        g.synthesize(ws[:1])
                    out[name].setdefault(key, []).append(1000 * (time.perf_counter() - t0) / 4)
        finally:
            for name in chosen:
                apply_modconv_forms(prepared[name][0], ())


def render_times(gen, others: dict | None = None, rounds: int = 7) -> dict[str, dict[str, float]]:
    """ms per image at batch 1 and 16 as the app renders on a CPU: channels-last activations (the
    render service's layout), with one intra-op thread and with all cores, and at batch 16 also
    split into parts rendered side by side on threads of one intra-op thread each (the render
    service's split, explorer/render_split.py; what the window does on up to 2 cores). `others`
    (name -> generator, e.g. the previous default model) are timed in the same rounds,
    interleaved, so that their ratios hold on a noisy machine. {model name: {row: median ms}}."""
    import copy
    import os
    import statistics

    from explorer.render_split import BatchSplitter

    models = {"this model": gen, **(others or {})}
    prepared = {}
    for name, g in models.items():
        g = copy.deepcopy(g)
        if hasattr(g.synthesis, "set_channels_last"):
            g.synthesis.set_channels_last(True)
        prepared[name] = (g, torch.from_numpy(seeds_ws(g, range(16))))
        if hasattr(g.synthesis, "disable_plan") or type(g.synthesis).__name__ == "SynthesisNetworkSG2":
            # the same model through its modules (explorer/generators/sg2_plan.py stepped aside)
            m = copy.deepcopy(g)
            m.synthesis.disable_plan = True
            prepared[f"{name}, modules path"] = (m, prepared[name][1])
    models = dict.fromkeys(prepared)
    saved = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    configs = [(t, b, 1) for t in sorted({1, cores}) for b in (1, 16)]
    if cores > 1:
        configs.append((1, 16, min(cores, 4)))
    out: dict[str, dict[str, list[float]]] = {name: {} for name in models}

    def synth(g, ws, splitter):
        return g.synthesize(ws) if splitter is None else splitter.synthesize(g, ws)
    try:
        for threads, b, parts in configs:
            torch.set_num_threads(threads)
            splitter = BatchSplitter(parts, threads) if parts > 1 else None
            key = f"batch {b}, {threads} thread{'s' if threads > 1 else ''}"
            if splitter is not None:
                key = f"batch {b}, {parts} parts x {threads} thread"
            with torch.inference_mode():
                for g, ws in prepared.values():
                    synth(g, ws[:b], splitter)                            # warm-up
                for _ in range(rounds):
                    for name, (g, ws) in prepared.items():
                        n = 4 if b == 1 else 1
                        t0 = time.perf_counter()
                        for _ in range(n):
                            synth(g, ws[:b], splitter)
                        out[name].setdefault(key, []).append(1000 * (time.perf_counter() - t0) / (n * b))
            if splitter is not None:
                splitter.close()
            if b == 1 and splitter is None:
                _time_calibrated_forms(prepared, out, threads, rounds)
    finally:
        torch.set_num_threads(saved)
    return {name: {k: statistics.median(v) for k, v in rows.items()} for name, rows in out.items()}


def edit_figures(gen, clf, dirs, targets, amount, n_edit, pool, batch):
    """Efficacy and leakage of each direction (raw and conditioned on the others)."""
    fp, groups = gen.fingerprint, gen.info.groups
    ws = seeds_ws(gen, range(BENCH_SEED, BENCH_SEED + pool))
    base = label_ws(gen, clf, ws, batch)
    hard, soft = binary_targets(hard_labels(base)), soft_targets(base)
    w_pool = ws[:, 0]
    rows = []
    for d in dirs:
        t = d.name
        if t not in hard:
            rows.append({"name": t, "note": "not a classifier attribute"})
            continue
        others = [o for o in dirs if o is not d]
        neg = np.flatnonzero(~hard[t])[:n_edit]
        row = {"name": t, "val_acc": d.quality.get("val_accuracy"), "n_edit": int(len(neg))}
        variants = [("raw", d)]
        if others:
            try:
                c = condition(d, others, w=w_pool)
                variants.append(("cond", c))
                row["kept"] = c.quality["kept"]
            except ValueError as exc:
                row["cond_error"] = str(exc)
        for tag, dd in variants:
            if len(neg) == 0:
                continue
            moved = dd.apply(ws[neg], amount, groups, fp)
            after = label_ws(gen, clf, moved, batch)
            h2, s2 = binary_targets(hard_labels(after)), soft_targets(after)
            row[f"efficacy_{tag}"] = float(h2[t].mean())
            row[f"delta_{tag}"] = float((s2[t] - soft[t][neg]).mean())
            leak = [float(np.abs(s2[o] - soft[o][neg]).mean()) for o in targets if o != t and o in s2]
            row[f"leakage_{tag}"] = float(np.mean(leak)) if leak else 0.0
        rows.append(row)
    return rows


def _attr_value(pred: np.ndarray, name: str):
    a = next(x for x in ATTRIBUTES if x.name == name)
    sl = label_slices()[name]
    if a.kind == "categorical":
        return pred[:, sl].argmax(1), "categorical", 1.0
    return pred[:, sl.start], a.kind, a.high - a.low


def _follow_shares(p_src, p_dst, p_mix) -> dict[str, float]:
    """Per attribute: share of pairs (where source and destination differ) in which the mixed
    face's reading is closer to the source's than to the destination's."""
    out = {}
    for a in ATTRIBUTES:
        vs, kind, span = _attr_value(p_src, a.name)
        vd, _, _ = _attr_value(p_dst, a.name)
        vm, _, _ = _attr_value(p_mix, a.name)
        if kind == "categorical":
            differ = vs != vd
            follows = vm == vs
        else:
            differ = np.abs(vs - vd) > 0.25 * span
            follows = np.abs(vm - vs) < np.abs(vm - vd)
        out[a.name] = float(follows[differ].mean()) if differ.any() else float("nan")
    return out


def mixing_figures(gen, clf, pairs: int, batch: int) -> dict[str, dict[str, float]]:
    """For each group: share of pairs (where source and destination differ) in which the mixed
    face's attribute is closer to the source's than to the destination's."""
    src = seeds_ws(gen, range(BENCH_SEED + 500_000, BENCH_SEED + 500_000 + pairs))
    dst = seeds_ws(gen, range(BENCH_SEED + 600_000, BENCH_SEED + 600_000 + pairs))
    p_src, p_dst = label_ws(gen, clf, src, batch), label_ws(gen, clf, dst, batch)
    out: dict[str, dict[str, float]] = {}
    for g, r in gen.info.groups.items():
        if len(r) == 0:
            continue
        mixed = np.stack([mix_layers(b, a, r) for a, b in zip(src, dst)])
        for name, share in _follow_shares(p_src, p_dst, label_ws(gen, clf, mixed, batch)).items():
            out.setdefault(name, {})[g] = share
    return out


def mixing_ceiling(gen, clf, pairs: int) -> dict[str, dict[str, float]]:
    """The same figure for the renderer's own mixes (a model with slot semantics): the same seeds'
    z, the group's slots taken from the source, rendered with one noise field for all (as the
    model's constant noise is), judged by the same classifier. What a perfect model scores under
    this judge: below 1 where the classifier misreads the renders (the truth, from the renderer's
    labels, is 1 for the group's own attributes and 0 for the others)."""
    from explorer.training import faces_v2 as V
    from explorer.training.z_layout import layout_of

    layout, res = layout_of(gen), gen.info.resolution
    noise = V.detail_noise(V.noise_maps(0, V.noise_resolutions(res)), res)

    def judge(z):
        imgs = np.stack([V.render_params_v2(layout.params_from_z(row), noise, res) for row in z])
        return np.concatenate([np.asarray(clf.predict(imgs[i:i + 64])) for i in range(0, len(imgs), 64)])
    zs = np.stack([layout.z_of_seed(BENCH_SEED + 500_000 + i) for i in range(pairs)])
    zd = np.stack([layout.z_of_seed(BENCH_SEED + 600_000 + i) for i in range(pairs)])
    p_src, p_dst = judge(zs), judge(zd)
    out: dict[str, dict[str, float]] = {}
    for g, r in gen.info.groups.items():
        if len(r) == 0:
            continue
        zm = zd.copy()
        idx = layout.slot_indices(g)
        zm[:, idx] = zs[:, idx]
        for name, share in _follow_shares(p_src, p_dst, judge(zm)).items():
            out.setdefault(name, {})[g] = share
    return out


def tiny_setup(tmp: Path):
    """A random 32px model and an untrained classifier: exercises every code path in seconds."""
    torch.manual_seed(0)
    gen = Generator(stylegan2_config(32, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=1))
    clf = AttributeClassifier({"widths": [8, 16, 16, 16], "feature_dim": 16})
    from explorer.training.default_directions import fit_default_directions

    dirs = fit_default_directions(gen, clf, samples=120, attributes="smile,old,yaw_right,dark_skin",
                                  out_path=tmp / "tiny_directions.json", progress=None)
    return gen, clf, dirs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(RESOURCES / "default_model.safetensors"))
    ap.add_argument("--classifier", default=str(RESOURCES / "attribute_classifier.safetensors"))
    ap.add_argument("--directions", default=str(RESOURCES / "default_directions.json"))
    ap.add_argument("--data", default=str(ROOT.parent / "data" / "faces64.lef"),
                    help="real face dataset (.lef); rendered on the fly when absent")
    ap.add_argument("--fid-samples", type=int, default=5000)
    ap.add_argument("--edit-samples", type=int, default=500)
    ap.add_argument("--pool", type=int, default=None, help="faces sampled to find negatives (default 4x)")
    ap.add_argument("--amount", type=float, default=3.0, help="edit size in scale units")
    ap.add_argument("--mix-pairs", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--speed-vs", action="append", default=[], metavar="MODEL",
                    help="also time this model (e.g. the previous default model) in the same rounds")
    ap.add_argument("--tiny", action="store_true", help="random tiny model + untrained classifier (smoke test)")
    ap.add_argument("--json", default=None, help="also write all figures as JSON here")
    ap.add_argument("--judge-free-only", action="store_true",
                    help="only the render time and the judge-free figures (e.g. a model whose renderer "
                         "the classifier was not trained on)")
    ap.add_argument("--speed-only", action="store_true", help="only the render time")
    ap.add_argument("--judge-free-samples", type=int, default=200)
    ap.add_argument("--fidelity-samples", type=int, default=256,
                    help="faces for the drawing-fidelity table (models with renderer-2 slot semantics)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.tiny:
        import tempfile

        gen, clf, dirs = tiny_setup(Path(tempfile.mkdtemp()))
    else:
        gen = load_generator(args.model)
        clf = None if args.judge_free_only else AttributeClassifier.load(args.classifier)
        dirs = []
        if not args.judge_free_only and Path(args.directions).is_file():
            try:
                dirs = load_directions(args.directions, model=gen.fingerprint)
            except DirectionModelError as exc:    # another model's directions: no direction figures
                print(f"({exc})")
    results: dict = {"model": {"name": gen.name, "fingerprint": gen.fingerprint, "resolution": gen.info.resolution}}
    print(f"model {gen.name} [{gen.fingerprint}] {gen.info.resolution}px, w {gen.info.w_dim}, "
          f"{gen.info.num_ws} ws, {torch.get_num_threads()} CPU threads")

    # 1. render time
    others = {Path(p).name: load_generator(p) for p in args.speed_vs}
    rt = render_times(gen, others)
    results["render_ms_per_image"] = rt
    names = list(rt)
    print("\n## CPU render time, ms / image (the app's layout, interleaved, median of 7 rounds)\n"
          "| batch, threads | " + " | ".join(names) + " |"
          + "".join(f" this model / {n} |" for n in names[1:]))
    print("|---|" + "---|" * (2 * len(names) - 1))
    for k in rt["this model"]:
        ref = rt["this model"][k]
        print(f"| {k} | " + " | ".join(f"{rt[n][k]:.1f}" if k in rt[n] else "-" for n in names) + " |"
              + "".join(f" {ref / rt[n][k]:.2f}x |" if k in rt[n] else " - |" for n in names[1:]))

    if args.speed_only:
        return _write_json(args, results)
    judge_free(gen, args, results)
    if args.judge_free_only:
        return _write_json(args, results)

    if gen.config.get("z_semantics") and args.fidelity_samples:
        fidelity(gen, clf, args, results)

    judged(gen, clf, args, results)

    # 2-3. Fréchet distance and distribution match
    n = args.fid_samples
    t0 = time.perf_counter()
    real_imgs = real_renders(gen, args.data, 2 * n, offset=1_000_000)   # the model's own renderer
    p_real, f_real = clf.predict_with_features(real_imgs[:n])
    _, f_real2 = clf.predict_with_features(real_imgs[n:2 * n])
    ws = seeds_ws(gen, range(BENCH_SEED + 100_000, BENCH_SEED + 100_000 + n))
    p_fake, f_fake = label_ws(gen, clf, ws, args.batch, with_features=True)
    fd, floor = frechet_distance(f_real, f_fake), frechet_distance(f_real, f_real2)
    results["frechet"] = {"real_vs_generated": fd, "real_vs_real": floor, "n": n}
    print(f"\n## Fréchet distance (classifier features, {n} vs {n}; {time.perf_counter() - t0:.0f} s)")
    print(f"real vs generated: {fd:.3f}   real vs real (floor): {floor:.3f}")
    match = attribute_distribution_match(p_real, p_fake)
    results["distribution_match"] = match
    print("\n## Attribute distribution, classifier on real vs on generated")
    print("| attribute | metric | value | real | generated |\n|---|---|---|---|---|")
    for name, m in match.items():
        if m["kind"] == "categorical":   # shares of the real data's most common class
            k = int(np.argmax(m["real"]))
            cls = next(a for a in ATTRIBUTES if a.name == name).classes[k]
            print(f"| {name} | TV (share '{cls}') | {m['tv']:.3f} | {m['real'][k]:.3f} | {m['fake'][k]:.3f} |")
        elif m["kind"] == "binary":
            print(f"| {name} | TV (rate) | {m['tv']:.3f} | {m['real']:.3f} | {m['fake']:.3f} |")
        else:
            print(f"| {name} | W1/range (mean) | {m['w1']:.3f} | {m['mean_real']:.3f} | {m['mean_fake']:.3f} |")

    # 4. directions
    if dirs:
        t0 = time.perf_counter()
        targets = [d.name for d in dirs]
        rows = edit_figures(gen, clf, dirs, targets, args.amount, args.edit_samples,
                            args.pool or 4 * args.edit_samples, args.batch)
        results["directions"] = rows
        print(f"\n## Directions: +{args.amount:g} scale units on negatives "
              f"({time.perf_counter() - t0:.0f} s)")
        print("| direction | SVM val acc | n | efficacy | leakage | efficacy cond. | leakage cond. | kept |")
        print("|---|---|---|---|---|---|---|---|")

        def f(x):
            return "-" if x is None else f"{x:.3f}"
        for r in rows:
            print(f"| {r['name']} | {f(r.get('val_acc'))} | {r.get('n_edit', 0)} | {f(r.get('efficacy_raw'))} | "
                  f"{f(r.get('leakage_raw'))} | {f(r.get('efficacy_cond'))} | {f(r.get('leakage_cond'))} | "
                  f"{f(r.get('kept'))} |")
    else:
        print("\n(no directions file: skipping the direction figures)")

    # 5. style mixing
    t0 = time.perf_counter()
    mix = mixing_figures(gen, clf, args.mix_pairs, args.batch)
    results["style_mixing"] = mix
    ceiling = mixing_ceiling(gen, clf, args.mix_pairs) if gen.config.get("z_semantics") else None
    if ceiling is not None:
        results["style_mixing_ceiling"] = ceiling
    groups = [g for g, r in gen.info.groups.items() if len(r)]
    print(f"\n## Style mixing: share following the source ({args.mix_pairs} pairs; "
          f"{time.perf_counter() - t0:.0f} s)" + ("; in brackets the renderer's own mixes under the same "
                                                  "judge, the ceiling" if ceiling else ""))
    print("| attribute | " + " | ".join(groups) + " |\n|---|" + "---|" * len(groups))
    for name, row in mix.items():
        cells = [f"{row.get(g, float('nan')):.2f}" + (f" ({ceiling[name].get(g, float('nan')):.2f})"
                                                      if ceiling and name in ceiling else "") for g in groups]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for g, names in MIX_FOLLOW.items():
        if g in groups:
            best = {a: max(mix[a], key=lambda k: -1 if np.isnan(mix[a][k]) else mix[a][k]) for a in names
                    if not all(np.isnan(v) for v in mix[a].values())}
            ok = [a for a, b in best.items() if b == g]
            print(f"expected to follow {g}: {', '.join(names)} -> follow {g} most: {', '.join(ok) or 'none'}")
    return _write_json(args, results)


def _write_json(args, results) -> int:
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))
        print(f"\nwrote {args.json}")
    return 0


def real_renders(gen, data: str | None, n: int, offset: int = 900_000) -> np.ndarray:
    """Real faces at the model's resolution: renderer v2 for a model with slot semantics (its
    own seeds' renders, from BENCH_SEED + offset), else the dataset (or renderer v1)."""
    if gen.config.get("z_semantics"):
        from explorer.training.z_layout import layout_of

        layout = layout_of(gen)
        return np.stack([layout.render_seed(BENCH_SEED + offset + i, gen.info.resolution)[0] for i in range(n)])
    imgs, _ = real_faces(data, n)
    return imgs


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """uint8 images [N, H, W, 3] blurred by a Gaussian of `sigma` px (rounded back to uint8)."""
    from scipy.ndimage import gaussian_filter

    out = gaussian_filter(images.astype(np.float32), sigma=(0, sigma, sigma, 0))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def judge_free(gen, args, results) -> None:
    from explorer.training import model_figures as mf

    n = args.judge_free_samples
    t0 = time.perf_counter()
    real = real_renders(gen, args.data, n)
    ws = seeds_ws(gen, range(BENCH_SEED + 900_000, BENCH_SEED + 900_000 + n))
    fake = mf.render(gen, torch.from_numpy(ws), args.batch)
    sharp = mf.laplacian_energy(fake) / max(mf.laplacian_energy(real), 1e-9)
    seeds_a = range(BENCH_SEED + 700_000, BENCH_SEED + 700_000 + n)
    seeds_b = range(BENCH_SEED + 800_000, BENCH_SEED + 800_000 + n)
    mix = mf.mixing_shares(gen, seeds_a, seeds_b, batch=args.batch)
    noise = {"all": mf.noise_change(gen, seeds_a, batch=args.batch)}
    for g, r in gen.info.groups.items():
        if len(r):
            noise[g] = mf.noise_change(gen, seeds_a, layers=(r.start, r.stop), batch=args.batch)
    blurred = {sigma: mf.laplacian_energy(_blur(real, sigma)) / max(mf.laplacian_energy(real), 1e-9)
               for sigma in (0.4, 0.5, 0.7, 1.0)}
    results["judge_free"] = {"sharpness": sharp, "mixing": mix, "noise_change": noise, "n": n,
                             "sharpness_of_blurred_renders": blurred}
    print(f"\n## Judge-free figures ({n} faces / pairs, psi 1; {time.perf_counter() - t0:.0f} s)")
    print(f"sharpness (Laplacian energy, generated / real renders): {sharp:.3f}")
    print("  for scale, the renders blurred by a Gaussian of sigma "
          + ", ".join(f"{s:g} px: {v:.3f}" for s, v in blurred.items()))
    print("| mixed group | structure follows source | colours follow source |\n|---|---|---|")
    for g, v in mix.items():
        print(f"| {g} | {v['structure']:.2f} | {v['colour']:.2f} |")
    print("| noise redrawn | mean pixel change (0-255) |\n|---|---|")
    for g, v in noise.items():
        print(f"| {g} | {v:.2f} |")
    if gen.config.get("z_semantics"):
        nf = mf.noise_fidelity(gen, range(BENCH_SEED + 950_000, BENCH_SEED + 950_000 + min(n, 32)),
                               seed=BENCH_SEED)
        results["judge_free"]["noise_fidelity"] = nf
        print("| renderer's map redrawn | the render's change (0-255) | the model's change | correlation of "
              "the two | mean abs difference of the two |\n|---|---|---|---|---|")
        for g, v in nf.items():
            print(f"| {g} | {v['render']:.2f} | {v['model']:.2f} | {v['correlation']:+.3f} | {v['error']:.2f} |")


def judged(gen, clf, args, results) -> None:
    """Redrawn noise keeps the face (labels kept); the antiface is on the other side of the average."""
    from explorer.training import judged_figures as jf

    n = args.judge_free_samples
    t0 = time.perf_counter()
    kept = jf.noise_labels_kept(gen, clf, range(BENCH_SEED + 700_000, BENCH_SEED + 700_000 + n), args.batch)
    opp = jf.antiface_opposition(gen, clf, range(BENCH_SEED + 600_000, BENCH_SEED + 600_000 + n), args.batch)
    results["noise_labels_kept"], results["antiface_opposition"] = kept, opp
    print(f"\n## Judged by the classifier ({n} faces; {time.perf_counter() - t0:.0f} s)")
    print(f"redrawn noise: attribute readings kept {kept['attributes']:.3f} (a category's class, a flag, the "
          f"side of a continuous attribute's middle); faces with every reading kept {kept['faces']:.3f}")
    print("antiface: share of faces clearly off the median (> 0.1 of the range) whose antiface is on the "
          "other side: "
          + ", ".join(f"{k} {v:.2f}" for k, v in opp.items()))


def fidelity(gen, clf, args, results) -> None:
    """Does the model draw what its z says? The classifier on G(z) against the renderer's labels
    of z, beside the classifier on the renders of the same z (the judge's own ceiling)."""
    from explorer.training.classifier import evaluate_predictions
    from explorer.training.z_layout import layout_of

    render_seed = layout_of(gen).render_seed
    n = args.fidelity_samples
    t0 = time.perf_counter()
    seeds = range(BENCH_SEED + 600_000, BENCH_SEED + 600_000 + n)
    renders, labels = map(np.stack, zip(*[render_seed(s, gen.info.resolution) for s in seeds]))
    fake = label_ws(gen, clf, seeds_ws(gen, seeds), args.batch)
    m_fake = evaluate_predictions(fake, labels)["attributes"]
    m_real = evaluate_predictions(clf.predict(renders), labels)["attributes"]
    results["fidelity"] = {"n": n, "generated": m_fake, "renders": m_real}
    print(f"\n## Drawing fidelity: the classifier on G(z) vs the labels of z ({n} faces; "
          f"{time.perf_counter() - t0:.0f} s)")
    print("| attribute | measure | on the renders (ceiling) | on the model's faces |\n|---|---|---|---|")
    for name, r in m_real.items():
        key, what = ("split_acc", "mid-split accuracy") if r["kind"] == "continuous" else ("acc", "accuracy")
        print(f"| {name} | {what} | {r[key]:.3f} | {m_fake[name][key]:.3f} |")


if __name__ == "__main__":
    raise SystemExit(main())
