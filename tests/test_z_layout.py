"""Renderer 3's z layout: one slot per class of each categorical parameter (z_layout)."""
import numpy as np
import pytest

from explorer.training import faces_v2 as V
from explorer.training.z_layout import LAYOUT_V2, LAYOUT_V3, class_offsets, layout_for, layout_of


def test_class_offsets_keep_the_priors():
    """argmax(x + b), x ~ N(0, I): each class as often as renderer 2's bins draw it (Monte Carlo,
    100,000 draws: within 0.006 of each prior)."""
    rng = np.random.default_rng(1)
    for weights in [(0.58, 0.28, 0.14), (0.1, 0.24, 0.22, 0.14, 0.1, 0.12, 0.08), (1, 1, 1, 1)]:
        b = class_offsets(weights)
        x = rng.standard_normal((100_000, len(weights)))
        share = np.bincount(np.argmax(x + b, axis=1), minlength=len(weights)) / len(x)
        assert np.abs(share - np.asarray(weights) / sum(weights)).max() < 0.006, weights
    assert np.allclose(class_offsets((1, 1, 1)), 0.0, atol=1e-9)


def test_renderer3_layout_has_one_slot_per_class_in_its_parameters_group():
    cats = [s for s in V.SLOTS if s.kind == "category"]
    assert LAYOUT_V3.z_dim == V.Z_DIM - len(cats) + sum(len(s.classes) for s in cats)
    groups = dict(LAYOUT_V3.slots)
    for s in V.SLOTS:
        names = [f"{s.name}={c}" for c in s.classes] if s.kind == "category" else [s.name]
        assert all(groups[n] == s.group for n in names)
    for g in V.GROUPS:
        assert sorted(LAYOUT_V3.slot_indices(g).tolist()) == [i for i, (_, gg) in enumerate(LAYOUT_V3.slots)
                                                              if gg == g]
    assert layout_for(2) is LAYOUT_V2 and layout_for(3) is LAYOUT_V3
    with pytest.raises(ValueError, match="unknown renderer"):
        layout_for(9)


def test_a_lifted_z_draws_the_same_portrait_and_is_normally_distributed():
    """Dataset item `seed` in renderer 3: renderer 2's z lifted (same parameters, exactly), the
    lifted z are N(0, I) (1,500 items: mean within 0.1, std within 0.06 per slot), deterministic."""
    zs = []
    for seed in range(1500):
        z3 = LAYOUT_V3.item_z(seed)
        if seed < 200:
            assert LAYOUT_V3.params_from_z(z3) == V.params_from_z(V.z_of_seed(seed))
        zs.append(z3)
    zs = np.stack(zs)
    assert np.abs(zs.mean(0)).max() < 0.1 and np.abs(zs.std(0) - 1).max() < 0.06
    assert np.array_equal(LAYOUT_V3.item_z(7), zs[7])
    assert LAYOUT_V2.item_z(7).tolist() == V.z_of_seed(7).tolist()


def test_changing_one_class_slot_changes_only_its_parameter():
    """Slot semantics: raising a class slot changes that category (to that class) and nothing else."""
    z = LAYOUT_V3.z_of_seed(11).astype(np.float64)
    before = LAYOUT_V3.params_from_z(z)
    for name in ("hair_color=grey", "glasses=sunglasses", "hair_style=long", "facial_hair=beard"):
        cat, cls = name.split("=")
        moved = LAYOUT_V3.set_attribute(z[None], cat, cls)[0]
        after = LAYOUT_V3.params_from_z(moved)
        assert getattr(after, cat) == cls
        changed = {k for k in vars(before) if getattr(before, k) != getattr(after, k)}
        assert changed <= {cat}, name


def test_layout_of_reads_a_models_slot_semantics():
    from explorer.generators import Generator
    from explorer.training.neural_renderer import RendererConfig, renderer_generator_config

    for version in (2, 3):
        gen = Generator(renderer_generator_config(RendererConfig(resolution=8, w_dim=16, mapping_layers=1,
                                                                 channel_base=32, channel_max=8,
                                                                 renderer_version=version)))
        assert layout_of(gen) is layout_for(version)
    gen.config["z_semantics"]["slots"] = gen.config["z_semantics"]["slots"][:-1]
    with pytest.raises(ValueError, match="differ"):
        layout_of(gen)
    gen.config.pop("z_semantics")
    with pytest.raises(ValueError, match="slot semantics"):
        layout_of(gen)


def test_class_gaps_measure_how_close_two_classes_come():
    z = np.zeros((2, LAYOUT_V3.z_dim))
    for name, (_, idx, b, _) in LAYOUT_V3.categories.items():
        z[:, idx] = -b - 5.0                 # every class scores -5 ...
        z[:, idx[0]] += 2.0                  # ... but the first: a lead of 2
    z[1, LAYOUT_V3.categories["glasses"][1][1]] += 1.5     # row 1: glasses' runner-up within 0.5
    assert np.allclose(LAYOUT_V3.class_gaps(z), [2.0, 0.5])
