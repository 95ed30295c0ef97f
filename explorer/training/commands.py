"""CLI subcommands for making the default model: `make-faces`, `train`, `export-model`.

    latent-explorer make-faces --out data/faces64.lef --count 50000 --resolution 64
    latent-explorer train --data data/faces64.lef --run-dir runs/default --kimg 300 --minutes 100
    latent-explorer train --data data/faces64.lef --run-dir runs/default --resume --minutes 60
    latent-explorer train ... --processes 2 --threads 1     # data-parallel: one process per core
    latent-explorer export-model --run-dir runs/default --out resources/default_model.safetensors \
        --pack training/default_run.safetensors
    latent-explorer train --data data/faces64.lef --run-dir runs/next --warm-start training/default_run.safetensors
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path


def cmd_make_faces(args) -> int:
    from .faces import write_dataset

    last = [-1]

    def progress(done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        if pct != last[0]:
            last[0] = pct
            print(f"\rrendering faces {done}/{total} ({pct}%)", end="", file=sys.stderr, flush=True)

    write_dataset(args.out, args.count, resolution=args.resolution, seed=args.seed,
                  workers=args.workers, progress=progress, renderer=args.renderer)
    print(f"\nwrote {args.count} faces to {args.out}")
    return 0


def _train_config(args):
    from .train import TrainConfig

    run_dir = Path(args.run_dir)
    saved = run_dir / "train_config.json"
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if args.resume and saved.is_file():  # the run's settings, with what the command line changes
        return TrainConfig(**{**json.loads(saved.read_text()), **overrides})
    if getattr(args, "warm_start", None):  # the pack's settings, with what the command line changes
        from .pack import pack_config

        return TrainConfig(**{**pack_config(args.warm_start), **overrides})
    return TrainConfig(**overrides)


def _graceful_stop(run_dir: Path, announce: bool = True):
    """Ctrl+C, SIGTERM or a file named STOP in the run folder end training after the current
    step, with a snapshot (nothing since the last periodic snapshot is lost)."""
    import signal

    flag = {"stop": False}
    stop_file = run_dir / "STOP"
    stop_file.unlink(missing_ok=True)

    def handler(signum, _frame):
        flag["stop"] = True
        if announce:
            print(f"{signal.Signals(signum).name}: stopping after this step, with a snapshot", flush=True)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)

    def should_stop() -> bool:
        if not flag["stop"] and stop_file.exists():
            if announce:
                print("STOP file found: stopping after this step, with a snapshot", flush=True)
            flag["stop"] = True
        return flag["stop"]

    return should_stop


def cmd_train(args) -> int:
    from .pack import PackError

    try:
        cfg = _train_config(args)
    except PackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
    world = int(getattr(args, "processes", None) or 1)
    if world <= 1:
        return _train(0, 1, args, cfg, None)
    return _train_parallel(world, args, cfg)


def _train(rank: int, world: int, args, cfg, port: int | None) -> int:
    """One training process (rank 0 of 1 when not parallel): build, resume, train, snapshot."""
    import torch

    from ..devices import pick_device
    from .faces import FaceDataset
    from .train import Trainer

    par = None
    if world > 1:
        from .parallel import init_group

        par = init_group(rank, world, port)
    data = FaceDataset(args.data)
    if args.threads or world > 1:
        torch.set_num_threads(args.threads or 1)
    device = pick_device(args.device) if world == 1 else "cpu"
    say = print if rank == 0 else (lambda *_a, **_k: None)
    trainer = Trainer(cfg, data, args.run_dir, device=device, par=par,
                      log=lambda m: say(m, flush=True))
    if args.resume and (Path(args.run_dir) / "snapshot.pt").is_file():
        trainer.load_snapshot()
        say(f"resumed at {trainer.nimg / 1000:.2f} kimg, step {trainer.step}")
    elif getattr(args, "warm_start", None):
        from .pack import PackError

        try:
            trainer.load_pack(args.warm_start)
        except PackError as exc:
            say(f"error: {exc}", flush=True)
            return 2
        say(f"warm start from {args.warm_start} at {trainer.nimg / 1000:.2f} kimg, step {trainer.step} "
            f"(fresh optimiser state)")
    g_params = sum(p.numel() for p in trainer.G.parameters())
    procs = f", {world} processes x {torch.get_num_threads()} threads" if world > 1 else \
        f", {torch.get_num_threads()} threads"
    say(f"training {cfg.resolution}px, G {g_params / 1e6:.2f}M params, batch {cfg.batch}, "
        f"R1 gamma {cfg.gamma():.4f}, device {device}{procs}", flush=True)
    stop = _graceful_stop(Path(args.run_dir), announce=rank == 0)
    trainer.train(kimg=args.kimg, minutes=args.minutes, snapshot_minutes=args.snapshot_minutes,
                  progress_seconds=args.progress_seconds, should_stop=stop)
    say(f"stopped at {trainer.nimg / 1000:.2f} kimg after {trainer.seconds / 60:.1f} minutes", flush=True)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()      # process 0 may still be writing its snapshot: tearing gloo down under it aborts
        dist.destroy_process_group()
    return 0


def _worker(rank: int, world: int, args, cfg, port: int) -> None:
    code = _train(rank, world, args, cfg, port)
    # leave without C++ static teardown: a spawned process ending normally while gloo's threads
    # wind down aborts now and then ("terminate called without an active exception")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def _train_parallel(world: int, args, cfg, worker=None) -> int:
    """`world` single-threaded data-parallel processes running worker(rank, world, args, cfg,
    port) (default: the GAN trainer's); signals to this one are passed on."""
    import signal

    import torch.multiprocessing as mp

    from .parallel import free_port

    ctx = mp.start_processes(worker or _worker, args=(world, args, cfg, free_port()), nprocs=world, join=False,
                             start_method="spawn")

    def forward(signum, _frame):
        for p in ctx.processes:
            if p.is_alive():
                os.kill(p.pid, signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    try:
        while not ctx.join():
            pass
    except Exception as e:  # noqa: BLE001 - a worker raised or was killed
        print(f"a training process failed: {e}")
        for p in ctx.processes:
            if p.is_alive():
                p.terminate()
        return 1
    return 0


def cmd_export_model(args) -> int:
    import torch

    from .faces import FaceDataset  # noqa: F401  (the same package makes the data)
    from .train import Trainer, TrainConfig

    run_dir = Path(args.run_dir)
    saved = run_dir / "train_config.json"
    if saved.is_file():
        cfg = TrainConfig(**json.loads(saved.read_text()))
    else:  # the snapshot carries the config too
        cfg = TrainConfig(**torch.load(run_dir / "snapshot.pt", map_location="cpu", weights_only=True)["config"])

    class _NoData:
        resolution = cfg.resolution

        def __len__(self):
            return 0

    trainer = Trainer(cfg, _NoData(), run_dir)
    trainer.load_snapshot()
    card = {"name": args.name, "kimg": round(trainer.nimg / 1000, 1),
            "train_minutes": round(trainer.seconds / 60, 1), "train_config": dataclasses.asdict(cfg)}
    out = trainer.export_generator(args.out, half=not args.float32, card=card)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) at {trainer.nimg / 1000:.1f} kimg")
    if args.pack:
        pack = trainer.save_pack(args.pack)
        print(f"wrote training pack {pack} ({pack.stat().st_size / 1e6:.2f} MB): continue with "
              f"`latent-explorer train --warm-start {pack} ...`")
    del torch
    return 0


def register(sub) -> None:
    m = sub.add_parser("make-faces", help="render the procedural face dataset")
    m.add_argument("--out", required=True)
    m.add_argument("--count", type=int, default=50000)
    m.add_argument("--resolution", type=int, default=64)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--workers", type=int, default=None)
    m.add_argument("--renderer", type=int, choices=(1, 2), default=1,
                   help="1: the v1 portraits; 2: slot-per-parameter portraits with noise-driven detail "
                        "(the neural renderer's data, z and noise from each seed)")
    m.set_defaults(func=cmd_make_faces)

    t = sub.add_parser("train", help="train a StyleGAN2 generator on a face dataset (resumable)")
    t.add_argument("--data", required=True)
    t.add_argument("--run-dir", required=True)
    t.add_argument("--kimg", type=float, default=300)
    t.add_argument("--minutes", type=float, default=None, help="wall-clock budget; snapshot at the end")
    t.add_argument("--snapshot-minutes", type=float, default=5.0)
    t.add_argument("--progress-seconds", type=float, default=60.0)
    t.add_argument("--resume", action="store_true", help="continue from run-dir/snapshot.pt")
    t.add_argument("--warm-start", metavar="PACK", default=None,
                   help="start from a training pack (export-model --pack): its networks, image count "
                        "and settings; fresh optimiser state. Ignored when --resume finds a snapshot")
    t.add_argument("--device", default="auto")
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--processes", type=int, default=1,
                   help="data-parallel CPU processes (e.g. one per core, each with --threads 1)")
    for name, typ in [("resolution", int), ("batch", int), ("z_dim", int), ("w_dim", int),
                      ("mapping_layers", int), ("g_channel_base", int), ("g_channel_max", int),
                      ("d_channel_base", int), ("d_channel_max", int), ("r1_gamma", float),
                      ("lr_g", float), ("lr_d", float), ("pl_weight", float), ("seed", int),
                      ("noise_max_res", int), ("blur_init_sigma", float), ("blur_fade_kimg", float)]:
        t.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("export-model", help="write the EMA generator of a run in our format")
    e.add_argument("--run-dir", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--name", default="default")
    e.add_argument("--float32", action="store_true", help="store float32 instead of float16")
    e.add_argument("--pack", default=None, metavar="PATH",
                   help="also write a training pack (G, G_ema, D in float16) for `train --warm-start`")
    e.set_defaults(func=cmd_export_model)
