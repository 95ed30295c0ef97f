"""Train StyleGAN2 as a neural renderer of renderer v2 (the default model v2's pilot (a)).

G(z) learns to reproduce render_v2(z, noise) for dataset items (pixel L1 at full, 1/2 and 1/4
size). Because z has slot semantics, supervision reaches what a GAN only hopes will emerge:

* mixing: with probability `mix_prob` the coarse / medium / fine ws come from three different
  z's that agree with the target's z only on that group's slots (the rest redrawn), so each
  layer group must take exactly its own parameters from its own w (the paper's style mixing,
  supervised);
* noise: targets carry detail drawn from the very noise maps G gets for the item, one map per
  layer group, so G's noise inputs learn to carry stochastic detail and nothing else;
* collapse cannot happen: every z has its own target.

Resumable like the GAN trainer: `snapshot.pt` (networks, Adam, RNG) every few minutes and at a
deadline; a pack (G and G_ema in float16, config, progress) carries the run across machines.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from torch.nn import functional as F

from ..export import atomic_path
from ..generators import Generator, stylegan2_config, to_uint8
from . import faces_v2
from .z_layout import LAYOUT_V2, Layout, layout_for
from .model_figures import laplacian_energy

SNAPSHOT_NAME = "snapshot.pt"
HELD_OUT_SEED = 10_000_000   # evaluation seeds start here, far beyond any dataset
HELD_OUT_COUNT = 32
SHARP_WINDOW = 8             # cells of the sharpness term: larger than the blur it undoes
SHIFT_RADIUS = 1             # px an edge may lie off the render's under the shift-tolerant L1
CLASS_TEMPERATURE = 0.01     # renderer 3: softmax temperature of the class slots (a gap of 0.03 between
                             # the two strongest gives the runner-up 5%; 0.1 blurs classes: held-out L1
                             # of the lifted 1088-kimg pack 0.136 at 0.1, 0.103 at 0.03, 0.091 at 0.01)


@dataclass
class RendererConfig:
    resolution: int = 128
    w_dim: int = 256
    mapping_layers: int = 4
    mapping_lr: float = 1.0      # the paper's 0.01 makes z -> w learn 100x slower
    channel_base: int = 2048
    channel_max: int = 256
    channels_at: str = ""        # per-resolution widths overriding channel_base, e.g. "64:48,128:24";
                                 # a narrower pack warm-starts by widening (widen.py)
    batch: int = 32
    lr: float = 0.002
    mix_prob: float = 0.5        # share of batches trained with group-wise mixed ws
    pool_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)   # L1 at full, 1/2, 1/4 size
    edge_weight: float = 0.0     # L1 between the images' finite differences: blur costs directly
    sharp_weight: float = 0.0    # local edge energy matched (sharp_energy_loss): a soft edge where the
                                 # render has a crisp one costs, wherever the two edges lie
    sharp_kind: str = "grad"     # the sharpness term's local energy: "grad" (first differences) or
                                 # "laplacian" (the 4-neighbour Laplacian: the figure's own filter,
                                 # which weighs the highest frequencies most and the middle ones less)
    shift_weight: float = 0.0    # full-size L1 to the render's best match within SHIFT_RADIUS px of each
                                 # pixel (shift_tolerant_l1): an edge a pixel off costs nothing, so
                                 # the mean of the places an edge may lie (a blur) is no longer the
                                 # cheapest answer; with pool_weights (0, 1, 1) the 1/2 and 1/4 size
                                 # L1 keep everything in place at the coarser scales
    feature_weight: float = 0.0  # L1 between the attribute classifier's activations (every stage of its
    feature_classifier: str = ""  # trunk, channel-normalised, LPIPS-like): shapes it was trained to see
    attr_weight: float = 0.0     # the same classifier's label loss on G's outputs against the labels of
                                 # the target's z: small features (eye colour, brows) get a voice
    adv_weight: float = 0.0      # adversarial finish (L1 + GAN, as image-to-image translation does):
    d_channel_base: int = 2048   # a discriminator on the renders vs G's outputs, non-saturating
    d_channel_max: int = 256     # loss, lazy R1 (every r1_interval steps, weight r1_gamma)
    r1_gamma: float = 0.5
    adv_cond: bool = False       # the discriminator sees each target's z (projection): real *for this face*
    adv_crop: int = 0            # the discriminator judges a random crop of this size (the same place in
                                 # the render and in G's output; a patch discriminator), 0: whole images
    r1_interval: int = 16
    ema_kimg: float = 2.0
    warmup_kimg: float = 10.0    # after a warm start (fresh Adam moments) the learning rate ramps up
                                 # over this many kimg: a full-size first step disturbs a trained model
    seed: int = 0
    channels_last: bool = True
    renderer_version: int = 2    # how z is read (z_layout): 2 one slot per parameter, 3 one slot per class
    edit_prob: float = 0.0       # edit supervision (edit_supervision.py): share of steps on which G(w + 3 sigma u_a)
    edit_weight: float = 1.0     # is trained against the render of the face with attribute a set, for
    edit_items: int = 8          # edit_items items; u_a learnable, one per attribute of edit_attributes
    edit_attributes: str = "blonde,grey_hair,glasses,sunglasses,long_hair,bald,beard"
    noise_prob: float = 0.0      # noise supervision (noise_supervision.py): share of steps on which, for
    noise_weight: float = 2.0    # noise_items items, a group's map is redrawn and G's change is trained
    noise_items: int = 8         # against the render's change (the coarse waves were lost under the
    noise_groups: str = "coarse"  # pixel losses: 0.03 / 255 against the renderer's 0.96)
    noise_floor: float = 0.0     # the supervised maps' layers kept at a noise strength >= this (the sign
                                 # kept): at 0 the layers after them cannot learn what to make of it


def renderer_generator_config(cfg: RendererConfig) -> dict:
    layout = layout_for(cfg.renderer_version)
    gcfg = stylegan2_config(cfg.resolution, z_dim=layout.z_dim, w_dim=cfg.w_dim,
                            channel_base=cfg.channel_base, channel_max=cfg.channel_max,
                            mapping_layers=cfg.mapping_layers, mapping_lr=cfg.mapping_lr)
    gcfg["synthesis"]["channels"].update(parse_channels_at(cfg.channels_at, cfg.resolution))
    gcfg["mapping"]["normalize_z"] = False   # slots must stay what they are
    gcfg["mapping"]["w_avg_beta"] = 0.995
    if layout.mapping_class_groups():        # renderer 3: each category's class slots -> near one-hot
        gcfg["mapping"]["class_groups"] = layout.mapping_class_groups()
        gcfg["mapping"]["class_temperature"] = CLASS_TEMPERATURE
    gcfg["z_semantics"] = {"renderer_version": layout.version, "slots": [list(s) for s in layout.slots]}
    return gcfg


def parse_channels_at(text: str, resolution: int) -> dict[str, int]:
    """"64:48,128:24" -> {"64": 48, "128": 24}; ValueError for anything else."""
    out = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        try:
            res, ch = (int(x) for x in part.split(":"))
        except ValueError:
            raise ValueError(f"channels_at: {part!r} is not RES:CHANNELS") from None
        if res < 4 or res > resolution or res & (res - 1) or not 1 <= ch <= 1024:
            raise ValueError(f"channels_at: {part!r}: a block resolution 4..{resolution} and 1..1024 channels")
        out[str(res)] = ch
    return out


def local_edge_energy(x: torch.Tensor, window: int = SHARP_WINDOW) -> torch.Tensor:
    """sqrt of the mean squared finite difference (both axes, every channel) over window x window
    cells: [N, C, H / window, W / window]. A ramp of height h and width k has energy h^2 / k, so a
    blurred edge has less of it than a crisp one, and (unlike the Laplacian) no overshoot adds any."""
    dx = F.pad((x[:, :, :, 1:] - x[:, :, :, :-1]).square(), (0, 1))
    dy = F.pad((x[:, :, 1:] - x[:, :, :-1]).square(), (0, 0, 0, 1))
    return (F.avg_pool2d(dx + dy, window) + 1e-6).sqrt()


def local_laplacian_energy(x: torch.Tensor, window: int = SHARP_WINDOW) -> torch.Tensor:
    """sqrt of the mean squared 4-neighbour Laplacian (every channel, edges replicated) over window x
    window cells: [N, C, H / window, W / window]. Its response grows as (2 sin(pi f))^4 with the
    frequency f where the first differences' grows as (2 sin(pi f))^2: matched, it asks for the
    crispness the sharpness figure reads rather than for texture in the middle bands."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    lap = 4 * x - p[:, :, :-2, 1:-1] - p[:, :, 2:, 1:-1] - p[:, :, 1:-1, :-2] - p[:, :, 1:-1, 2:]
    return (F.avg_pool2d(lap.square(), window) + 1e-6).sqrt()


SHARP_ENERGIES = {"grad": local_edge_energy, "laplacian": local_laplacian_energy}


def shift_tolerant_l1(fake: torch.Tensor, real: torch.Tensor, radius: int = SHIFT_RADIUS) -> torch.Tensor:
    """Mean over pixels of min over shifts (dx, dy) within `radius` of |fake(p) - real(p + shift)|
    (summed over channels, one shift for all of a pixel's channels; divided by the channels). The
    render's edges may be matched up to `radius` px off: drawn crisp a pixel off an edge costs
    nothing, drawn as the blur of its possible places costs."""
    if radius <= 0:
        return (fake - real).abs().mean()
    h, w = fake.shape[-2:]
    padded = F.pad(real, (radius,) * 4, mode="replicate")
    best = None
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            d = (fake - padded[:, :, dy:dy + h, dx:dx + w]).abs().sum(1)
            best = d if best is None else torch.minimum(best, d)
    return best.mean() / fake.shape[1]


def sharp_energy_loss(fake: torch.Tensor, real: torch.Tensor, window: int = SHARP_WINDOW,
                      kind: str = "grad") -> torch.Tensor:
    """L1 between the local edge energies (`kind`: SHARP_ENERGIES) of G's output and the render: L1
    regression draws the mean of the edges it is unsure of (a blur); this asks for the render's
    crispness in each cell, while the pixel terms keep the edges where the render has them."""
    energy = SHARP_ENERGIES[kind]
    return (energy(fake, window) - energy(real, window)).abs().mean()


def mixed_z(z: torch.Tensor, gen: torch.Generator, layout: Layout = LAYOUT_V2) -> dict[str, torch.Tensor]:
    """Per layer group, a z that keeps the group's slots of `z` and redraws all the others."""
    out = {}
    for group in faces_v2.GROUPS:
        zg = torch.randn(z.shape, generator=gen).to(z.device)
        idx = torch.from_numpy(layout.slot_indices(group)).to(z.device)
        zg[:, idx] = z[:, idx]
        out[group] = zg
    return out


def group_mixed_ws(G: Generator, zs: dict[str, torch.Tensor]) -> torch.Tensor:
    """ws whose layers of each group come from that group's z."""
    parts = {g: G.mapping(z) for g, z in zs.items()}
    ws = parts["coarse"].clone()
    for group, rng in G.info.groups.items():
        if len(rng):
            ws[:, rng.start:rng.stop] = parts[group][:, rng.start:rng.stop]
    return ws


def pack_config(path: str | os.PathLike) -> RendererConfig:
    """The configuration a neural-renderer training pack was trained with (fields this version does
    not know are dropped). ValueError for a file that is not such a pack."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:   # safetensors raises its own error types for foreign files
        raise ValueError(f"{path}: not a neural-renderer training pack ({exc})") from None
    if meta.get("format") != "latent-explorer-renderer-pack":
        raise ValueError(f"{path}: not a neural-renderer training pack")
    saved = json.loads(meta["renderer_config"])
    fields = {f.name for f in dataclasses.fields(RendererConfig)}
    return RendererConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items() if k in fields})


class _NoData:
    """Stands in for a dataset where only the networks are needed (export, figures)."""

    def __init__(self, resolution: int):
        self.resolution, self.renderer_version = resolution, faces_v2.RENDERER_VERSION   # the pictures' renderer

    def __len__(self) -> int:
        return 0


def networks_only(cfg: RendererConfig, run_dir: str | os.PathLike) -> "RendererTrainer":
    """A trainer with cfg's networks and no data, to load a pack or snapshot into."""
    return RendererTrainer(cfg, _NoData(cfg.resolution), run_dir, log=lambda m: None, judge=False)


class _Losses(Mapping):
    """A step's losses as floats, read from the device only when asked (a GPU step need not wait)."""

    def __init__(self, parts: dict):
        self._parts = parts

    def __getitem__(self, key: str) -> float:
        return float(self._parts[key])

    def __iter__(self):
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)


class RendererTrainer:
    def __init__(self, cfg: RendererConfig, data, run_dir: str | os.PathLike, device: str | torch.device = "cpu",
                 log: Callable[[str], None] = print, par=None, preload_workers: int | None = None,
                 judge: bool = True):
        """data: a FaceDataset written with renderer 2 at cfg.resolution. par: a parallel.Gloo when
        this is one of several data-parallel processes (each takes batch / world images per step,
        gradients are averaged, process 0 writes snapshots), else single-process.
        preload_workers: hold the whole dataset (images, z, noise maps) on `device`, drawn by that
        many processes (the GPU path: `device_data.DeviceData`); None reads it per step.
        judge: load the feature-loss classifier (False for networks only: exporting needs no loss)."""
        from .parallel import Solo

        self.par = par if par is not None else Solo()
        if cfg.batch % self.par.world:
            raise ValueError(f"batch {cfg.batch} does not split over {self.par.world} processes")
        if cfg.sharp_kind not in SHARP_ENERGIES:
            raise ValueError(f"sharp_kind {cfg.sharp_kind!r}: one of {', '.join(SHARP_ENERGIES)}")
        self.local_batch = cfg.batch // self.par.world
        if data.resolution != cfg.resolution:
            raise ValueError(f"dataset is {data.resolution}px but the model is {cfg.resolution}px")
        self.layout = layout_for(cfg.renderer_version)
        if getattr(data, "renderer_version", 1) != self.layout.data_version:
            raise ValueError("the neural renderer trains on renderer-2 data (make-faces --renderer 2)")
        self.cfg, self.data, self.log = cfg, data, log
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.device = torch.device(device)
        torch.manual_seed(cfg.seed)
        self.G = Generator(renderer_generator_config(cfg)).to(self.device).train().requires_grad_(True)
        if cfg.channels_last:
            self.G.synthesis.set_channels_last(True)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        # supervised, not adversarial: Adam with momentum (GANs use beta1 = 0)
        self.opt = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=(0.9, 0.99), eps=1e-8)
        self.D = self.opt_d = None
        if cfg.adv_weight > 0:
            self._make_discriminator()
        self.judge = self._load_judge() if judge and (cfg.feature_weight > 0 or cfg.attr_weight > 0) else None
        self.edits = None
        if cfg.edit_prob > 0:
            from .edit_supervision import EditSupervisor

            self.edits = EditSupervisor(self, cfg.edit_attributes)
            self.opt.add_param_group({"params": self.edits.parameters()})
        self.noise_sup = None
        if cfg.noise_prob > 0:
            from .noise_supervision import NoiseSupervisor

            self.noise_sup = NoiseSupervisor(self, cfg.noise_groups)
        for net in (self.G, self.G_ema) + ((self.D,) if self.D is not None else ()):
            self.par.broadcast_module(net)
        self.step, self.nimg, self.seconds = 0, 0, 0.0
        self.ramp_from: int | None = None    # nimg of a warm start (None: no ramp)
        self.rng = torch.Generator().manual_seed(cfg.seed + 7919 * self.par.rank)
        self.last_losses: Mapping[str, float] = {}
        self._held_out = None
        self.device_data = None
        if preload_workers is not None:
            from .device_data import DeviceData

            if self.device.type == "cuda":
                torch.backends.cuda.matmul.allow_tf32 = True
                torch.backends.cudnn.allow_tf32 = True
                torch.backends.cudnn.benchmark = True
            self.device_data = DeviceData(data, [ni.resolution for ni in self.G.noise_inputs()], self.device,
                                          workers=preload_workers, log=log, layout_version=self.layout.version)

    def _load_judge(self):
        """The frozen classifier trunk whose activations the feature loss compares."""
        from .classifier import AttributeClassifier

        if not self.cfg.feature_classifier:
            raise ValueError("feature_weight and attr_weight need feature_classifier (an attribute classifier file)")
        clf = AttributeClassifier.load(self.cfg.feature_classifier, device=self.device)
        if self.cfg.attr_weight and clf.num_labels != len(faces_v2.LABEL_NAMES_V2):
            raise ValueError(f"attr_weight needs a classifier of renderer-2 labels ({len(faces_v2.LABEL_NAMES_V2)}), "
                             f"{self.cfg.feature_classifier} has {clf.num_labels}")
        net = clf.net.eval().requires_grad_(False)
        return net, clf.resolution

    def _judge_losses(self, fake: torch.Tensor, real: torch.Tensor | None,
                      z: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """From one pass of the judge: (the feature loss, mean L1 between unit-normalised activations
        after every stride-2 stage, against `real` (0 without it); the label loss of `fake` against
        the labels of z (None without z))."""
        from .classifier import label_loss

        net, res = self.judge
        x = fake if real is None else torch.cat([fake, real])
        x = x.contiguous()
        if x.shape[-1] != res:
            x = F.interpolate(x, size=(res, res), mode="bilinear", antialias=True, align_corners=False)
        total, n = x.new_zeros(()), len(fake)
        for layer in net.trunk:
            x = layer(x)
            if real is not None and isinstance(layer, torch.nn.ReLU):
                f = x / (x.square().sum(1, keepdim=True).sqrt() + 1e-6)
                total = total + (f[:n] - f[n:]).abs().mean()
        if z is None:
            return total, None
        raw = net.head(F.relu(net.embed(x[:n])))
        labels = torch.from_numpy(np.stack([self.layout.labels(v) for v in z.detach().cpu().numpy()])).to(raw.device)
        return total, label_loss(raw, labels)[0]

    def _make_discriminator(self) -> None:
        from .discriminator import Discriminator

        cfg = self.cfg
        if cfg.adv_crop and (cfg.adv_crop < 8 or cfg.adv_crop & (cfg.adv_crop - 1) or cfg.adv_crop > cfg.resolution):
            raise ValueError(f"adv_crop {cfg.adv_crop}: a power of two from 8 to the resolution")
        self.D = Discriminator(cfg.adv_crop or cfg.resolution, 3, cfg.d_channel_base, cfg.d_channel_max,
                               c_dim=self.layout.z_dim if cfg.adv_cond else 0).to(self.device).train()
        c = cfg.r1_interval / (cfg.r1_interval + 1)   # lazy regularisation: scale lr and betas
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr * c, betas=(0.0, 0.99 ** c), eps=1e-8)

    def _crops(self, *images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The same random adv_crop-sized window of each sample in every one of `images`."""
        size = self.cfg.adv_crop
        if not size or size >= images[0].shape[-1]:
            return images
        n, room = len(images[0]), images[0].shape[-1] - size + 1
        ys = torch.randint(room, (n,), generator=self.rng).tolist()
        xs = torch.randint(room, (n,), generator=self.rng).tolist()
        return tuple(torch.stack([im[i, :, y:y + size, x:x + size] for i, (y, x) in enumerate(zip(ys, xs))])
                     for im in images)

    def _d_step(self, fake: torch.Tensor, real: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        self.D.requires_grad_(True)
        do_r1 = self.step % cfg.r1_interval == 0
        real = real.detach().requires_grad_(do_r1)
        c = z if cfg.adv_cond else None
        real_logits = self.D(real, c)
        loss = F.softplus(self.D(fake.detach(), c)).mean() + F.softplus(-real_logits).mean()
        out = {}
        if do_r1:
            (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            r1 = grad.square().sum(dim=[1, 2, 3]).mean()
            loss = loss + r1 * (cfg.r1_gamma / 2) * cfg.r1_interval
            out["R1"] = r1.detach()
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.par.average_grads(self.D.parameters())
        self.opt_d.step()
        out.update({"D": loss.detach(), "D_real": real_logits.detach().mean()})
        return out

    # ----- batches ----------------------------------------------------------------------
    def _batch(self, n: int):
        """(target in -1..1, z, noise maps) of n random dataset items."""
        idx = np.sort(torch.randint(len(self.data), (n,), generator=self.rng).numpy())
        if self.device_data is not None:
            target, z, noise = self.device_data.batch(torch.from_numpy(idx))
            return self._fmt(target), z, noise
        imgs, _ = self.data.batch(idx)
        target = torch.from_numpy(np.ascontiguousarray(imgs)).to(self.device).permute(0, 3, 1, 2).float()
        seeds = [int(self.data.seed + i) for i in idx]
        z = torch.from_numpy(np.stack([self.layout.item_z(s) for s in seeds])).to(self.device)
        return self._fmt(target / 127.5 - 1.0), z, self.G.make_noise(len(seeds), seeds)

    def _fmt(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last if self.cfg.channels_last else torch.contiguous_format)

    def losses(self, fake: torch.Tensor, real: torch.Tensor, z: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The supervised terms; z (the targets' latents) for the label loss (attr_weight)."""
        out = {}
        for k, w in enumerate(self.cfg.pool_weights):
            if w:
                f, r = (fake, real) if k == 0 else (F.avg_pool2d(fake, 2 ** k), F.avg_pool2d(real, 2 ** k))
                out[f"L1/{2 ** k}"] = w * (f - r).abs().mean()
        if self.judge is not None:
            feat, attr = self._judge_losses(fake, real if self.cfg.feature_weight else None,
                                            z if self.cfg.attr_weight else None)
            if self.cfg.feature_weight:
                out["feat"] = self.cfg.feature_weight * feat
            if attr is not None:
                out["attr"] = self.cfg.attr_weight * attr
        if self.cfg.edge_weight:
            d = fake - real
            out["edge"] = self.cfg.edge_weight * 0.5 * ((d[:, :, :, 1:] - d[:, :, :, :-1]).abs().mean()
                                                        + (d[:, :, 1:] - d[:, :, :-1]).abs().mean())
        if self.cfg.sharp_weight:
            out["sharp"] = self.cfg.sharp_weight * sharp_energy_loss(fake, real, kind=self.cfg.sharp_kind)
        if self.cfg.shift_weight:
            out["shift"] = self.cfg.shift_weight * shift_tolerant_l1(fake, real)
        return out

    # ----- one iteration ----------------------------------------------------------------
    def learning_rate(self) -> float:
        """cfg.lr, ramped up linearly over warmup_kimg after a warm start."""
        cfg = self.cfg
        if self.ramp_from is None or cfg.warmup_kimg <= 0:
            return cfg.lr
        done = (self.nimg - self.ramp_from) / (cfg.warmup_kimg * 1000)
        return cfg.lr * min(1.0, max(done, 0.0) + cfg.batch / (cfg.warmup_kimg * 1000))

    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        lr = self.learning_rate()
        for group in self.opt.param_groups:
            group["lr"] = lr
        real, z, noise = self._batch(self.local_batch)
        mixing = float(torch.rand(1, generator=self.rng)) < cfg.mix_prob
        ws = group_mixed_ws(self.G, mixed_z(z, self.rng, self.layout)) if mixing else self.G.mapping(z)
        fake = self._fmt(self.G.synthesis(ws, noise))
        parts = self.losses(fake, real, z)
        if self.edits is not None and self.edits.supervise_now(cfg.edit_prob):
            parts.update(self.edits.losses(z, noise, cfg.edit_items))
        if self.noise_sup is not None and self.noise_sup.supervise_now(cfg.noise_prob):
            parts.update(self.noise_sup.losses(z, ws, noise, fake, real, cfg.noise_items))
        if self.D is not None:
            self.D.requires_grad_(False)
            fake_c, real_c = self._crops(fake, real)
            parts["adv"] = self.cfg.adv_weight * F.softplus(-self.D(fake_c, z if cfg.adv_cond else None)).mean()
        loss = sum(parts.values())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.par.average_grads(self.G.parameters())
        if self.edits is not None:
            self.par.average_grads(self.edits.parameters())
        self.opt.step()
        if self.noise_sup is not None:
            self.noise_sup.hold_open(cfg.noise_floor)
        d_losses = self._d_step(fake_c, real_c, z) if self.D is not None else {}
        with torch.no_grad():
            w_mean = self.par.mean(self.G.mapping(z)[:, 0].mean(0) if mixing else ws[:, 0].mean(0))
            self.G.mapping.w_avg.lerp_(w_mean, 1 - self.G.mapping.w_avg_beta)
            beta = 0.5 ** (cfg.batch / max(cfg.ema_kimg * 1000, 1e-8))
            torch._foreach_lerp_(list(self.G_ema.parameters()), [p.detach() for p in self.G.parameters()],
                                 1.0 - beta)
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)
        self.step += 1
        self.nimg += cfg.batch
        self.last_losses = _Losses({"loss": loss.detach(), "mixed": float(mixing),
                                    **{k: v.detach() for k, v in parts.items()}, **d_losses})
        return self.last_losses

    # ----- evaluation -------------------------------------------------------------------
    def held_out(self):
        """(seeds, target uint8 images) of the evaluation faces, rendered once."""
        if self._held_out is None:
            seeds = list(range(HELD_OUT_SEED, HELD_OUT_SEED + HELD_OUT_COUNT))
            imgs = np.stack([self.layout.render_seed(s, self.cfg.resolution)[0] for s in seeds])
            self._held_out = (seeds, imgs)
        return self._held_out

    @torch.no_grad()
    def outputs(self, seeds, items: bool = False) -> np.ndarray:
        """G_ema's pictures of the app's seeds, or (items) of renderer-2 dataset items `seeds`: the
        same portraits whatever this model's layout (z lifted for renderer 3)."""
        z_of = self.layout.item_z if items else self.layout.z_of_seed
        z = torch.from_numpy(np.stack([z_of(s) for s in seeds])).to(self.device)
        return to_uint8(self.G_ema.synthesis(self.G_ema.mapping(z), self.G_ema.make_noise(len(seeds), seeds)))

    def evaluate(self) -> dict[str, float]:
        """Held-out L1 (0..2 scale, as the loss) and sharpness of G_ema vs the renders."""
        seeds, target = self.held_out()
        out = self.outputs(seeds)
        l1 = float(np.abs(out.astype(np.float32) - target).mean() / 127.5)
        return {"heldout_L1": l1, "sharpness": laplacian_energy(out) / max(laplacian_energy(target), 1e-9)}

    # ----- the loop ---------------------------------------------------------------------
    def train(self, kimg: float, minutes: float | None = None, snapshot_minutes: float = 5.0,
              progress_seconds: float = 30.0, should_stop: Callable[[], bool] | None = None) -> None:
        """Run until `kimg` thousand images seen, the wall-clock budget, or should_stop()."""
        from .loop import training_loop

        training_loop(self, kimg, minutes, snapshot_minutes, progress_seconds, should_stop, loss_digits=4)

    # ----- snapshots and packs ----------------------------------------------------------
    def save_snapshot(self) -> Path:
        """Every process calls this; process 0 writes (with every process's RNG state)."""
        path = self.run_dir / SNAPSHOT_NAME
        rngs = self.par.gather(self.rng.get_state())
        if self.par.rank != 0:
            return path
        state = {"rng_ranks": rngs, "config": dataclasses.asdict(self.cfg), "step": self.step, "nimg": self.nimg,
                 "seconds": self.seconds, "ramp_from": self.ramp_from,
                 "G": self.G.state_dict(), "G_ema": self.G_ema.state_dict(), "opt": self.opt.state_dict(),
                 "rng": self.rng.get_state(), "torch_rng": torch.get_rng_state()}
        if self.D is not None:
            state.update({"D": self.D.state_dict(), "opt_d": self.opt_d.state_dict()})
        if self.edits is not None:
            state["edits"] = {k: v.cpu() for k, v in self.edits.state().items()}
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        figures = self.evaluate()
        self.save_sample_grid(self.run_dir / f"samples-{self.nimg // 1000:06d}kimg.png")
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps({"step": self.step, "kimg": self.nimg / 1000, "minutes": self.seconds / 60,
                                **self.last_losses, **figures}) + "\n")
        self.log(f"snapshot at {self.nimg / 1000:.2f} kimg: held-out L1 {figures['heldout_L1']:.4f}, "
                 f"sharpness {figures['sharpness']:.3f} -> {path}")
        return path

    def load_snapshot(self, path: str | os.PathLike | None = None) -> None:
        path = Path(path) if path else self.run_dir / SNAPSHOT_NAME
        st = torch.load(path, map_location="cpu", weights_only=True)
        self.G.load_state_dict(st["G"])
        self.G_ema.load_state_dict(st["G_ema"])
        if self.edits is not None and "edits" in st:
            self.edits.load(st["edits"], self.edits.names)
        self.opt.load_state_dict(st["opt"])
        if self.D is not None and "D" in st:     # a run that switches the GAN term on starts a fresh D
            self.D.load_state_dict(st["D"])
            self.opt_d.load_state_dict(st["opt_d"])
        self.step, self.nimg, self.seconds = int(st["step"]), int(st["nimg"]), float(st["seconds"])
        self.ramp_from = st.get("ramp_from")
        ranks = st.get("rng_ranks")
        if ranks is not None and len(ranks) == self.par.world:
            self.rng.set_state(ranks[self.par.rank])
        elif self.par.world == 1:
            self.rng.set_state(st["rng"])
        else:   # another number of processes than the snapshot's: fresh, distinct streams
            self.rng.manual_seed(self.cfg.seed + 7919 * self.par.rank + 104729 * self.step)
        if self.par.world == 1:
            torch.set_rng_state(st["torch_rng"])

    def save_pack(self, path: str | os.PathLike) -> Path:
        """G and G_ema in float16 with the config and progress (continue with load_pack)."""
        from safetensors.torch import save_file

        tensors = {}
        for name in ("G", "G_ema"):
            for key, t in getattr(self, name).state_dict().items():
                t = t.detach().to("cpu").contiguous()
                tensors[f"{name}.{key}"] = (t.to(torch.float16) if t.is_floating_point() else t).clone()
        if self.edits is not None:
            tensors.update({k: v.detach().to("cpu").float().contiguous().clone() for k, v in self.edits.state().items()})
        meta = {"format": "latent-explorer-renderer-pack", "format_version": "1",
                "renderer_config": json.dumps(dataclasses.asdict(self.cfg)),
                "nimg": str(self.nimg), "step": str(self.step), "seconds": f"{self.seconds:.1f}"}
        path = Path(path)
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        return path

    def load_pack(self, path: str | os.PathLike) -> None:
        """Warm start: networks and progress from a pack; fresh Adam moments and streams. A pack of
        narrower synthesis layers (e.g. before --channels-at) is widened without changing what it
        draws (`widen.widen_state`)."""
        from safetensors import safe_open

        from .widen import widen_state

        saved = pack_config(path)
        if any(getattr(saved, k) != getattr(self.cfg, k) for k in ("resolution", "w_dim", "mapping_layers",
                                                                    "renderer_version")):
            raise ValueError(f"{path}: the pack's networks do not fit this configuration")
        widths = (renderer_generator_config(saved)["synthesis"]["channels"],
                  renderer_generator_config(self.cfg)["synthesis"]["channels"])
        if any(widths[0][r] > widths[1][r] for r in widths[1]):
            raise ValueError(f"{path}: the pack's networks are wider than this configuration")
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
            fresh = {k: v.clone() for k, v in self.G.state_dict().items()}   # new channels' init, G and G_ema alike
            for name in ("G", "G_ema"):
                state = {k.split(".", 1)[1]: f.get_tensor(k).float() for k in f.keys() if k.startswith(name + ".")}
                if widths[0] != widths[1]:
                    state = widen_state(state, fresh)
                getattr(self, name).load_state_dict(state)
            self.nimg, self.step, self.seconds = int(meta["nimg"]), int(meta["step"]), float(meta["seconds"])
            if self.edits is not None:
                if "E.vectors" in f.keys():
                    saved_names = json.loads(meta["renderer_config"]).get("edit_attributes", "").split(",")
                    self.edits.load({k: f.get_tensor(k) for k in ("E.vectors", "E.scale")},
                                    [n.strip() for n in saved_names])
                else:
                    self.edits.init_from_mapping()     # the pack's mapping: start at its slot directions
        if widths[0] != widths[1]:
            grown = ", ".join(f"{r} px {widths[0][r]}->{widths[1][r]}" for r in widths[1]
                              if widths[0][r] != widths[1][r])
            self.log(f"widened the pack's synthesis layers ({grown}); new channels start unheard")
        self.ramp_from = self.nimg
        # a stream of its own for every process: the same one would give them the same batches
        self.rng.manual_seed(self.cfg.seed + 7919 * self.par.rank + 104729 * self.step)

    @torch.no_grad()
    def save_sample_grid(self, path: Path) -> None:
        """Rows of renders (target) above G_ema's outputs for the held-out faces."""
        from PIL import Image

        seeds, target = self.held_out()
        out = self.outputs(seeds)
        r, cols = self.cfg.resolution, min(8, len(seeds))
        rows = []
        for k in range(0, len(seeds) - cols + 1, cols):
            rows += [np.concatenate(list(target[k:k + cols]), 1), np.concatenate(list(out[k:k + cols]), 1)]
        with atomic_path(path) as tmp:
            Image.fromarray(np.concatenate(rows, 0)).save(tmp, format="PNG")
        del r

    def export_generator(self, path: str | os.PathLike, half: bool = True, card: dict | None = None) -> Path:
        from ..checkpoints import save_native

        gen = Generator(copy.deepcopy(self.G_ema.config))
        gen.load_state_dict(self.G_ema.state_dict())
        gen.config["name"] = (card or {}).get("name", "default")
        gen.config["card"] = card or {}
        extra = {"kimg": f"{self.nimg / 1000:.1f}", "renderer_config": json.dumps(dataclasses.asdict(self.cfg))}
        return save_native(gen.cpu(), path, half=half, extra_metadata=extra)
