"""CLI: train-renderer / export-renderer / lift-pack (the default model v2 as a neural renderer)."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

CONFIG_NAME = "renderer_config.json"


def _config(args):
    from .neural_renderer import RendererConfig

    run_dir = Path(args.run_dir)
    saved = run_dir / CONFIG_NAME
    fields = {f.name for f in dataclasses.fields(RendererConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if isinstance(overrides.get("pool_weights"), str):
        try:
            overrides["pool_weights"] = tuple(float(x) for x in overrides["pool_weights"].split(","))
        except ValueError:
            raise ValueError(f"--pool-weights: {overrides['pool_weights']!r} is not three numbers") from None
        if len(overrides["pool_weights"]) != 3:
            raise ValueError("--pool-weights takes three numbers: L1 at full, 1/2 and 1/4 size")
    base = json.loads(saved.read_text()) if saved.is_file() else {}
    if "pool_weights" in base:
        base["pool_weights"] = tuple(base["pool_weights"])
    return RendererConfig(**{**base, **overrides})


def cmd_train_renderer(args) -> int:
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        cfg = _config(args)
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    (run_dir / CONFIG_NAME).write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
    world = int(args.processes or 1)
    if world <= 1:
        return _train(0, 1, args, cfg, None)
    from .commands import _train_parallel

    return _train_parallel(world, args, cfg, worker=_worker)


def _worker(rank: int, world: int, args, cfg, port: int) -> None:
    code = _train(rank, world, args, cfg, port)
    # leave without C++ static teardown: a spawned process ending normally while gloo's threads
    # wind down aborts now and then ("terminate called without an active exception")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def _train(rank: int, world: int, args, cfg, port: int | None) -> int:
    """One training process (rank 0 of 1 when not parallel)."""
    import torch

    from .commands import _graceful_stop
    from .faces import FaceDataset
    from .neural_renderer import RendererTrainer

    torch.set_flush_denormal(True)
    par = None
    if world > 1:
        from .parallel import init_group

        par = init_group(rank, world, port)
    if args.threads or world > 1:
        torch.set_num_threads(args.threads or 1)
    say = (lambda m: print(m, flush=True)) if rank == 0 else (lambda m: None)
    run_dir = Path(args.run_dir)
    try:
        trainer = RendererTrainer(cfg, FaceDataset(args.data), run_dir, device=args.device if world == 1 else "cpu",
                                  log=say, par=par, preload_workers=args.preload if world == 1 else None)
        snap = run_dir / "snapshot.pt"
        if args.resume and snap.is_file():
            trainer.load_snapshot(snap)
            say(f"resumed at {trainer.nimg / 1000:.2f} kimg, step {trainer.step}")
        elif args.warm_start:
            trainer.load_pack(args.warm_start)
            say(f"warm start from {args.warm_start} at {trainer.nimg / 1000:.2f} kimg")
    except (ValueError, OSError) as exc:
        if rank == 0:
            print(f"error: {exc}", file=sys.stderr)
        return 2
    say(f"training the neural renderer {cfg.resolution}px, G "
        f"{sum(p.numel() for p in trainer.G.parameters()) / 1e6:.2f}M params, batch {cfg.batch}"
        + (f", {world} processes x {torch.get_num_threads()} threads" if world > 1 else
           f", {torch.get_num_threads()} threads"))
    trainer.train(kimg=args.kimg, minutes=args.minutes, snapshot_minutes=args.snapshot_minutes,
                  progress_seconds=args.progress_seconds,
                  should_stop=_graceful_stop(run_dir, announce=rank == 0))
    if world > 1:
        import torch.distributed as dist

        dist.barrier()      # process 0 may still be writing its snapshot: tearing gloo down under it aborts
        dist.destroy_process_group()
    return 0


def cmd_export_renderer(args) -> int:
    from .neural_renderer import networks_only, pack_config

    if args.default_psi is not None and not -1.0 <= args.default_psi <= 1.5:
        print("error: --default-psi must lie in [-1, 1.5]", file=sys.stderr)
        return 2
    if args.from_pack:
        try:
            cfg = pack_config(args.from_pack)
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        if not args.run_dir:
            print("error: give --run-dir (its snapshot) or --from-pack", file=sys.stderr)
            return 2
        snap = Path(args.run_dir) / "snapshot.pt"
        if not snap.is_file():
            print(f"error: {snap}: no snapshot to export", file=sys.stderr)
            return 2
        cfg = _config(args)

    import tempfile

    with tempfile.TemporaryDirectory() as scratch:      # a pack has no run folder of its own
        trainer = networks_only(cfg, args.run_dir or scratch)
        if args.from_pack:
            trainer.load_pack(args.from_pack)
        else:
            trainer.load_snapshot(Path(args.run_dir) / "snapshot.pt")
        card = {"name": args.name, "kimg": round(trainer.nimg / 1000, 1),
                "trainer": f"neural renderer (z layout of renderer {cfg.renderer_version})",
                "previews": False}     # its fine blocks carry the colour scheme: no early-stopped previews
        if args.default_psi is not None:
            card["default_psi"] = float(args.default_psi)
        if args.directions and trainer.edits is None:
            print("error: --directions needs a run trained with edit supervision (--edit-prob)", file=sys.stderr)
            return 2
        out = trainer.export_generator(args.out, half=not args.float32, card=card)
        print(f"wrote {out} ({trainer.nimg / 1000:.1f} kimg)")
        if args.directions:
            from .. import load_generator
            from ..directions import save_directions

            gen = load_generator(out)
            print(f"wrote {save_directions(trainer.edits.directions(gen.fingerprint), args.directions)} "
                  f"({len(trainer.edits.names)} trained directions)")
        if args.pack:
            print(f"wrote training pack {trainer.save_pack(args.pack)}")
    return 0


def register(sub) -> None:
    t = sub.add_parser("train-renderer", help="train the default model v2 as a neural renderer of renderer-2 "
                                              "faces (supervised; resumable)")
    t.add_argument("--data", required=True, help="a make-faces --renderer 2 dataset")
    t.add_argument("--run-dir", required=True)
    t.add_argument("--kimg", type=float, default=1000)
    t.add_argument("--minutes", type=float, default=None, help="wall-clock budget; snapshot at the end")
    t.add_argument("--snapshot-minutes", type=float, default=5.0)
    t.add_argument("--progress-seconds", type=float, default=60.0)
    t.add_argument("--resume", action="store_true", help="continue from run-dir/snapshot.pt")
    t.add_argument("--warm-start", metavar="PACK", default=None, help="start from a renderer pack")
    t.add_argument("--device", default="cpu")
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--processes", type=int, default=1,
                   help="data-parallel CPU processes (e.g. one per core, each with --threads 1)")
    t.add_argument("--preload", type=int, default=None, metavar="WORKERS",
                   help="hold the whole dataset with its z and noise maps on --device, drawn by WORKERS "
                        "processes (the GPU path; 60,000 items at 128 px take 8.2 GB)")
    for name, typ in [("resolution", int), ("batch", int), ("w_dim", int), ("mapping_layers", int),
                      ("mapping_lr", float), ("channel_base", int), ("channel_max", int), ("channels_at", str),
                      ("lr", float), ("mix_prob", float), ("ema_kimg", float), ("seed", int),
                      ("edge_weight", float), ("sharp_weight", float), ("sharp_kind", str), ("shift_weight", float), ("adv_weight", float), ("d_channel_base", int),
                      ("d_channel_max", int), ("r1_gamma", float), ("feature_weight", float),
                      ("feature_classifier", str), ("adv_crop", int), ("attr_weight", float), ("warmup_kimg", float),
                      ("renderer_version", int), ("edit_prob", float), ("edit_weight", float), ("edit_items", int),
                      ("edit_attributes", str), ("pool_weights", str), ("noise_prob", float),
                      ("noise_weight", float), ("noise_items", int), ("noise_groups", str),
                      ("noise_floor", float)]:
        t.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None)
    t.add_argument("--adv-cond", dest="adv_cond", action="store_const", const=True, default=None,
                   help="condition the discriminator on each target's z (projection discriminator)")
    t.set_defaults(func=cmd_train_renderer)

    e = sub.add_parser("export-renderer", help="write a neural-renderer run's EMA generator in our format")
    e.add_argument("--run-dir", default=None, help="a run folder: export its snapshot")
    e.add_argument("--from-pack", default=None, metavar="PACK",
                   help="export a training pack's G_ema instead (e.g. training/default_v2_run.safetensors)")
    e.add_argument("--out", required=True)
    e.add_argument("--name", default="default")
    e.add_argument("--float32", action="store_true")
    e.add_argument("--default-psi", type=float, default=None, metavar="PSI",
                   help="the truncation psi the app starts this model at (written in the model's card)")
    e.add_argument("--pack", default=None, metavar="PATH", help="also write a renderer pack (--warm-start)")
    e.add_argument("--directions", default=None, metavar="JSON",
                   help="also write the directions an edit-supervised run learned (--edit-prob)")
    e.set_defaults(func=cmd_export_renderer)

    li = sub.add_parser("lift-pack", help="carry a renderer-2 training pack over to renderer 3's z layout (one "
                                          "slot per class), exactly: no training, no pictures")
    li.add_argument("--pack", required=True, help="a renderer-2 training pack")
    li.add_argument("--out", required=True, help="the renderer-3 pack to write (train-renderer --renderer-version 3 "
                                                 "--warm-start OUT continues it)")
    li.set_defaults(func=cmd_lift_pack)


def cmd_lift_pack(args) -> int:
    from .lift_pack import lift_pack

    try:
        lift_pack(args.pack, args.out, log=lambda m: print(m, flush=True))
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
