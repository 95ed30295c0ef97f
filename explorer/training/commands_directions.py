"""CLI subcommands for the attribute classifier and the default model's directions.

    latent-explorer train-classifier --data data/faces128v2.lef --out classifier.safetensors --minutes 35
    latent-explorer fit-directions --model M --classifier resources/attribute_classifier.safetensors \
        --samples 20000 --out dirs.json [--attributes smile,old,glasses] [--method slot]
    latent-explorer measure-directions --model M --classifier C --directions A.json [B.json] --out all.json

The shipped classifier and directions were made this way (exact commands: resources/MODEL_CARD.md).
"""
from __future__ import annotations

import json
import os
import sys


def _polite(args) -> None:
    """Share the machine: fewer threads and a lower priority when asked."""
    import torch

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    if getattr(args, "nice", 0):
        try:
            os.nice(args.nice)
        except OSError:
            pass


def cmd_train_classifier(args) -> int:
    from .classifier import train_classifier
    from .faces import FaceDataset

    _polite(args)
    metrics = train_classifier(FaceDataset(args.data), args.out, epochs=args.epochs, batch=args.batch,
                               val_fraction=args.val_fraction, minutes=args.minutes, lr=args.lr,
                               seed=args.seed, half=not args.float32)
    if args.metrics:
        with open(args.metrics, "w") as f:
            json.dump(metrics, f, indent=1)
    print(f"wrote {args.out}")
    return 0


def cmd_fit_directions(args) -> int:
    from .. import load_generator
    from .classifier import AttributeClassifier
    from .default_directions import fit_default_directions

    _polite(args)
    gen = load_generator(args.model)
    clf = AttributeClassifier.load(args.classifier)
    try:
        fit_default_directions(gen, clf, samples=args.samples, attributes=args.attributes, seed0=args.seed,
                               batch=args.batch, C=args.C, out_path=args.out, efficacy_samples=args.efficacy_samples,
                               labels=args.labels, method=args.method)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_measure_directions(args) -> int:
    """Efficacy and leakage of directions from a file (e.g. those an edit-supervised renderer
    learned), judged the way fit-directions judges its own."""
    from .. import load_generator
    from ..directions import load_directions
    from .classifier import AttributeClassifier
    from .default_directions import measure_and_save

    _polite(args)
    gen = load_generator(args.model)
    try:
        dirs, seen = [], set()
        for path in args.directions:         # together: leakage is judged on all of them
            for d in load_directions(path, model=gen.fingerprint):
                if d.name not in seen:       # the first file that names a direction wins
                    seen.add(d.name)
                    dirs.append(d)
        if len(args.directions) > 1 and not args.out:
            raise ValueError("give --out when measuring several files together")
        if args.order:
            first = [n.strip() for n in args.order.split(",") if n.strip()]
            unknown = sorted(set(first) - seen)
            if unknown:
                raise ValueError(f"--order names directions the files do not have: {', '.join(unknown)}")
            rank = {n: i for i, n in enumerate(first)}
            dirs.sort(key=lambda d: rank.get(d.name, len(rank)))     # stable: the rest keep their order
        clf = AttributeClassifier.load(args.classifier)
        measure_and_save(gen, clf, dirs, args.seed, args.efficacy_samples, args.batch,
                         args.out or args.directions[0], print)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def register(sub) -> None:
    t = sub.add_parser("train-classifier", help="train the attribute classifier on a face dataset")
    t.add_argument("--data", required=True, help="face dataset (.lef) from make-faces")
    t.add_argument("--out", required=True, help="where to write the classifier (.safetensors)")
    t.add_argument("--epochs", type=float, default=20)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--minutes", type=float, default=None, help="wall-clock budget (lr anneals to it)")
    t.add_argument("--val-fraction", type=float, default=0.1)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--float32", action="store_true", help="store float32 instead of float16 weights")
    t.add_argument("--metrics", default=None, help="also write the validation metrics as JSON here")
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--nice", type=int, default=0, help="lower this process's priority by N")
    t.set_defaults(func=cmd_train_classifier)

    f = sub.add_parser("fit-directions", help="fit attribute directions for a model with the classifier")
    f.add_argument("--model", default="default", help="checkpoint path or 'default'")
    f.add_argument("--classifier", required=True, help="attribute classifier (.safetensors)")
    f.add_argument("--samples", type=int, default=20000)
    f.add_argument("--out", required=True, help="JSON file for all fitted directions")
    f.add_argument("--attributes", default=None,
                   help="comma-separated binary targets (default: smile, old, glasses, sunglasses, beard, "
                        "bald, long_hair, blonde, dark_skin, yaw_right, tilt_right, light_from_right, "
                        "makeup, grey_hair)")
    f.add_argument("--seed", type=int, default=0, help="first seed of the samples")
    f.add_argument("--batch", type=int, default=32)
    f.add_argument("--C", type=float, default=1.0, help="SVM regularisation")
    f.add_argument("--threads", type=int, default=None)
    f.add_argument("--nice", type=int, default=0)
    f.add_argument("--efficacy-samples", type=int, default=200,
                   help="negatives per direction to measure its efficacy at +3 scale units (0: skip)")
    f.add_argument("--labels", choices=("classifier", "recipe"), default="classifier",
                   help="what the SVMs fit: the classifier's view of each face (InterFaceGAN), or the labels "
                        "each seed's z stands for (neural-renderer models, whose z slots are drawing parameters)")
    f.add_argument("--method", choices=("svm", "slot"), default="svm",
                   help="svm: fit a linear SVM per attribute (InterFaceGAN); slot: read each direction off the "
                        "model's z slots (neural-renderer models: the mean W move of setting the attribute's slot)")
    f.set_defaults(func=cmd_fit_directions)

    m = sub.add_parser("measure-directions", help="measure directions' efficacy and leakage at +3 scale units "
                                                  "with the classifier (as fit-directions does for its own)")
    m.add_argument("--model", default="default", help="checkpoint path or 'default'")
    m.add_argument("--classifier", required=True, help="attribute classifier (.safetensors)")
    m.add_argument("--directions", required=True, nargs="+",
                   help="directions JSON file(s) of this model, judged together (a name in several files: "
                        "the first one's)")
    m.add_argument("--out", default=None, help="where to write them with the figures (default: in place, "
                                               "for one file)")
    m.add_argument("--seed", type=int, default=4000, help="first seed of the fresh faces")
    m.add_argument("--order", default=None, metavar="NAMES",
                   help="comma-separated names written first, in this order (the app lists them so)")
    m.add_argument("--efficacy-samples", type=int, default=100)
    m.add_argument("--batch", type=int, default=32)
    m.add_argument("--threads", type=int, default=None)
    m.add_argument("--nice", type=int, default=0)
    m.set_defaults(func=cmd_measure_directions)
