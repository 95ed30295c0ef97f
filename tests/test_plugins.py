"""Plugin API: discovery, lazy loading, schema validation, built-in maths, recipes, isolation."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import tomllib
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer import Generator, stylegan2_config
from explorer.edits import mix_layers, mutate
from explorer.latents import Latent, NoiseSpec, latent_from_seed
from explorer.plugins import (PLUGIN_DIR_ENV, DirectionRef, EditCancelled, EditContext, FloatField, Kind,
                              LayerRangeField, ParamError, Plugin, PluginError, PluginRegistry, default_plugin_folder)
from explorer.recipes import RecipeError, load_latents_json, replay, save_latents_json
from tests.plugin_support import AllFields

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PACKAGE = ROOT / "examples" / "latent-explorer-example-plugin"
EXAMPLE_FOLDER = ROOT / "examples" / "plugin-folder"
BUILTIN_IDS = {"builtin.style_mix", "builtin.antiface", "builtin.truncation", "builtin.noise_variation",
               "builtin.children", "builtin.crossbreed", "builtin.move_direction", "builtin.average",
               "builtin.exaggerate", "builtin.colour_grade"}


# ----- fixtures and helpers ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def gen() -> Generator:
    """A tiny 16px model (6 ws: coarse 0-3, medium 4-5) with a non-zero w_avg, so antiface and
    truncation are not trivially zero-centred."""
    g = Generator(stylegan2_config(16, z_dim=8, w_dim=8, channel_base=64, channel_max=8, mapping_layers=1))
    with torch.no_grad():
        g.mapping.w_avg.copy_(torch.linspace(-0.5, 0.5, g.info.w_dim))
    g.invalidate_fingerprint()
    return g


@pytest.fixture
def registry() -> PluginRegistry:
    reg = PluginRegistry()
    reg.discover(folder=None)
    return reg


@pytest.fixture(scope="module")
def faces(gen) -> list[Latent]:
    return [latent_from_seed(gen, s) for s in (1, 2, 3)]


def write_distribution(site: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A minimal installed distribution (dist-info with entry_points.txt) that importlib.metadata finds."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[latent_explorer.plugins]\n{lines}\n")
    for name, source in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(source))


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


GOOD_MODULE = """
    from explorer.plugins import FloatField, Plugin

    class Scale(Plugin):
        id = "thirdparty.scale"
        name = "Scale"
        params = [FloatField("factor", default=2.0, min=0.0, max=4.0)]

        def apply(self, inputs, params, context):
            return inputs[0].ws * params["factor"]
"""


class Raising(Plugin):
    id = "test.raising"
    name = "Raising"

    def apply(self, inputs, params, context):
        raise RuntimeError("boom from the plugin")


class Slow(Plugin):
    id = "test.slow"
    time_limit = 0.2

    def apply(self, inputs, params, context):
        while not context.cancelled():   # a well-behaved long edit: stops once told to
            time.sleep(0.01)
        return inputs[0].ws


class Patient(Slow):
    id = "test.patient"
    time_limit = 30.0


class Stuck(Plugin):
    id = "test.stuck"
    time_limit = 0.2

    def apply(self, inputs, params, context):
        time.sleep(1.5)                  # ignores cancelled(): abandoned in its daemon thread
        return inputs[0].ws


class WrongShape(Plugin):
    id = "test.wrong_shape"

    def apply(self, inputs, params, context):
        return inputs[0].ws[:-1]


class NaNResult(Plugin):
    id = "test.nan"

    def apply(self, inputs, params, context):
        ws = inputs[0].ws.copy()
        ws[0, 0] = np.nan
        return ws


class IntResult(Plugin):
    id = "test.int_result"

    def apply(self, inputs, params, context):
        return np.zeros(inputs[0].ws.shape, dtype=np.int64)


class WrongCount(Plugin):
    id = "test.wrong_count"
    outputs = 3

    def apply(self, inputs, params, context):
        return [inputs[0].ws, inputs[0].ws]


class BadImage(Plugin):
    id = "test.bad_image"
    kind = Kind.IMAGE

    def apply(self, inputs, params, context):
        return inputs[0].astype(np.float32)


# ----- discovery ------------------------------------------------------------------------------------
def test_builtins_are_discovered_through_entry_points_without_importing(registry):
    recs = {r.id: r for r in registry.records()}
    assert BUILTIN_IDS <= recs.keys()
    for pid in BUILTIN_IDS:
        assert recs[pid].source == "built-in"
        assert recs[pid].enabled
    # lazily: nothing is imported before first use
    fresh = PluginRegistry()
    fresh.discover(folder=None)
    assert {r.status for r in fresh.records() if r.id in BUILTIN_IDS} == {"not loaded"}
    plugin = fresh.get("builtin.style_mix")
    assert plugin.id == "builtin.style_mix" and fresh.record("builtin.style_mix").status == "loaded"


def test_builtins_can_be_left_out(registry):
    reg = PluginRegistry()
    reg.discover(folder=None, include_builtin=False)
    assert not BUILTIN_IDS & {r.id for r in reg.records()}


def test_entry_point_discovery_is_lazy(tmp_path, monkeypatch):
    module = unique("thirdparty_scale")
    write_distribution(tmp_path, "thirdparty-scale", {"thirdparty.scale": f"{module}:Scale"}, {module: GOOD_MODULE})
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = PluginRegistry()
    reg.discover(folder=None)
    rec = reg.record("thirdparty.scale")
    assert rec.source == "entry point: thirdparty-scale"
    assert rec.status == "not loaded"
    assert module not in sys.modules, "an entry point must not be imported at discovery"
    plugin = reg.get("thirdparty.scale")
    assert module in sys.modules and plugin.name == "Scale" and rec.status == "loaded"
    assert plugin in reg.available(n_inputs=1)
    reg2 = PluginRegistry()
    reg2.discover(folder=None, entry_points=False)
    assert "thirdparty.scale" not in {r.id for r in reg2.records()}


def test_entry_point_name_must_be_the_plugin_id(tmp_path, monkeypatch):
    module = unique("misnamed")
    write_distribution(tmp_path, "misnamed", {"thirdparty.other": f"{module}:Scale"}, {module: GOOD_MODULE})
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = PluginRegistry()
    reg.discover(folder=None)
    with pytest.raises(PluginError, match="thirdparty.scale"):
        reg.get("thirdparty.other")
    assert reg.record("thirdparty.other").status == "failed"


def test_folder_discovery(tmp_path, gen, faces):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "negate.py").write_text(textwrap.dedent("""
        from explorer.plugins import Plugin

        class Negate(Plugin):
            id = "user.negate"
            name = "Negate"

            def apply(self, inputs, params, context):
                return -inputs[0].ws
    """))
    (folder / "computed.py").write_text(textwrap.dedent("""
        from explorer.plugins import Plugin

        PREFIX = "user"

        class Same(Plugin):
            id = PREFIX + ".same"      # not a literal: the file is imported at discovery

            def apply(self, inputs, params, context):
                return inputs[0].ws
    """))
    (folder / "_helper.py").write_text("raise RuntimeError('private modules are skipped')\n")
    reg = PluginRegistry()
    reg.discover(entry_points=False, include_builtin=False, folder=folder)
    recs = {r.id: r for r in reg.records()}
    assert set(recs) == {"user.negate", "user.same"}
    assert recs["user.negate"].source == f"folder: {folder / 'negate.py'}"
    assert recs["user.negate"].status == "not loaded" and recs["user.negate"].name == "Negate"
    out = reg.apply("user.negate", [faces[0]], model=gen)[0]
    np.testing.assert_array_equal(out.ws, -faces[0].ws)
    assert out.recipe["plugin"] == "user.negate"
    assert reg.apply("user.same", [faces[0]], model=gen)[0].recipe["plugin"] == "user.same"


def test_a_plugin_that_hangs_or_exits_at_import_is_skipped_not_waited_for(tmp_path, monkeypatch, gen, faces):
    import time

    import explorer.plugin_registry as plugins_mod   # where the registry reads it

    monkeypatch.setattr(plugins_mod, "IMPORT_SECONDS", 0.5)
    folder = tmp_path / "plugins"
    folder.mkdir()
    stop = tmp_path / "stop-looping"           # the looping import ends once the test is over
    (folder / "loops.py").write_text(f"import os, time\nwhile not os.path.exists({str(stop)!r}):\n"
                                     "    time.sleep(0.05)\n")
    (folder / "exits.py").write_text("raise SystemExit(3)\n")
    (folder / "slow_literal.py").write_text(textwrap.dedent("""
        import time
        from explorer.plugins import Plugin
        time.sleep(30)

        class Slow(Plugin):
            id = "user.slow"

            def apply(self, inputs, params, context):
                return inputs[0].ws
    """))
    reg = PluginRegistry()
    t0 = time.perf_counter()
    reg.discover(entry_points=False, include_builtin=False, folder=folder)
    recs = {r.id: r for r in reg.records()}
    assert "did not finish within 0.5 s" in recs["loops.py"].error
    assert "SystemExit" in recs["exits.py"].error
    with pytest.raises(PluginError, match="did not finish"):          # declared statically: fails on first use
        reg.apply("user.slow", [faces[0]], model=gen)
    assert not reg.record("user.slow").enabled
    assert time.perf_counter() - t0 < 10
    stop.write_text("")


def test_default_folder_honours_env(tmp_path, monkeypatch, faces, gen):
    monkeypatch.setenv(PLUGIN_DIR_ENV, str(tmp_path))
    assert default_plugin_folder() == tmp_path
    (tmp_path / "mirror_half.py").write_text((EXAMPLE_FOLDER / "mirror_half.py").read_text())
    reg = PluginRegistry()
    reg.discover()
    recs = {r.id: r for r in reg.records()}
    assert recs["example.mirror_half"].source.startswith("folder: ")
    assert BUILTIN_IDS <= recs.keys()
    img = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    out = reg.apply_image("example.mirror_half", img, {"keep": "left"})
    np.testing.assert_array_equal(out, out[:, ::-1])


def test_default_folder_is_a_user_data_folder(monkeypatch):
    monkeypatch.delenv(PLUGIN_DIR_ENV, raising=False)
    folder = default_plugin_folder()
    assert folder.name == "plugins" and "latent-explorer" in str(folder)


def test_example_package_entry_points(tmp_path, monkeypatch, gen, faces):
    """The example third-party package, as pip would install it: its own pyproject's entry points."""
    project = tomllib.loads((EXAMPLE_PACKAGE / "pyproject.toml").read_text())
    eps = project["project"]["entry-points"]["latent_explorer.plugins"]
    assert set(eps) == {"example.posterize", "example.random_walk"}
    write_distribution(tmp_path, project["project"]["name"], eps, {})
    monkeypatch.syspath_prepend(str(EXAMPLE_PACKAGE))
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = PluginRegistry()
    reg.discover(folder=None)
    rec = reg.record("example.random_walk")
    assert rec.source == "entry point: latent-explorer-example-plugin"
    walk = reg.apply("example.random_walk", [faces[0]], {"steps": 3}, model=gen)
    assert len(walk) == 3 and [w.recipe["output"] for w in walk] == [0, 1, 2]
    again = replay(Latent.from_json(json.loads(json.dumps(walk[2].to_json()))).recipe, gen, reg)
    np.testing.assert_array_equal(again.ws, walk[2].ws)
    img = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    poster = reg.apply_image("example.posterize", img, {"levels": 2})
    assert set(np.unique(poster)) <= {0, 255}


# ----- schema validation --------------------------------------------------------------------------
@pytest.mark.parametrize("params, field, words", [
    ({"amount": 1.5}, "amount", "outside the range"),
    ({"amount": "0.3"}, "amount", "expected a number"),
    ({"amount": float("nan")}, "amount", "finite"),
    ({"count": 2.5}, "count", "whole number"),
    ({"count": 0}, "count", "outside the range"),
    ({"flip": "yes"}, "flip", "true or false"),
    ({"mode": "medium"}, "mode", "unknown choice"),
    ({"tint": "blue"}, "tint", "#rrggbb"),
    ({"tint": "#12345"}, "tint", "#rrggbb"),
    ({"layers": "middle"}, "layers", "unknown layer group"),
    ({"layers": [4, 2]}, "layers", "empty"),
    ({"layers": [0]}, "layers", "[start, stop]"),
    ({"direction": 3}, "direction", "direction name"),
    ({"image": 7}, "image", "file path"),
    ({"colour": "#ffffff"}, "colour", "unknown parameter"),
])
def test_bad_parameter_values_name_the_field(params, field, words):
    with pytest.raises(ParamError) as err:
        AllFields().validate_params(params)
    assert err.value.field == field
    assert f"'{field}'" in str(err.value) and words in str(err.value)


def test_parameters_are_normalised_and_defaulted():
    p = AllFields().validate_params({"amount": 1, "count": 4.0, "tint": "#AABBCC", "layers": (1, 3)})
    assert p == {"amount": 1.0, "count": 4, "seed": 0, "flip": False, "mode": "soft", "layers": [1, 3], "direction": "",
                 "image": "", "tint": "#aabbcc"}
    assert type(p["count"]) is int
    assert json.loads(json.dumps(p)) == p                      # recipes stay JSON
    assert FloatField("x", min=0, max=2).parse("1.25") == 1.25
    assert LayerRangeField("layers").parse("[2, 4]") == [2, 4]


def test_layer_range_is_checked_against_the_model(registry, gen, faces):
    with pytest.raises(ParamError, match="'layers'.*outside"):
        registry.apply("builtin.antiface", [faces[0]], {"layers": [2, 40]}, model=gen)
    assert registry.record("builtin.antiface").enabled, "a user's bad value must not disable the plugin"


def test_unknown_direction_is_a_param_error(registry, gen, faces):
    with pytest.raises(ParamError, match="'direction'.*smile"):
        registry.apply("builtin.move_direction", [faces[0]], {"direction": "smile"}, model=gen, directions={})
    # without a directions table the plugin itself reports it, still as a ParamError
    with pytest.raises(ParamError, match="'direction'"):
        registry.apply("builtin.move_direction", [faces[0]], {"direction": "smile"}, model=gen)
    assert registry.record("builtin.move_direction").status == "loaded"


def test_bad_declaration_is_reported_as_failed():
    class BadDefault(Plugin):
        id = "test.bad_default"
        params = [FloatField("x", default=5.0, min=0.0, max=1.0)]

        def apply(self, inputs, params, context):
            return inputs[0].ws

    reg = PluginRegistry()
    rec = reg.register(BadDefault)
    assert rec.status == "failed" and "default value is invalid" in rec.error
    with pytest.raises(PluginError):
        reg.get("test.bad_default")


# ----- built-in maths ----------------------------------------------------------------------------------
def one(registry, pid, inputs, params=None, gen=None, **kw) -> Latent:
    out = registry.apply(pid, inputs, params, model=gen, **kw)
    assert len(out) == 1
    return out[0]


def test_style_mix_is_mix_layers(registry, gen, faces):
    a, b, _ = faces
    out = one(registry, "builtin.style_mix", [a, b], None, gen)
    np.testing.assert_array_equal(out.ws, mix_layers(a.ws, b.ws, gen.info.coarse))
    out = one(registry, "builtin.style_mix", [a, b], {"layers": [4, 6]}, gen)
    np.testing.assert_array_equal(out.ws[:4], a.ws[:4])
    np.testing.assert_array_equal(out.ws[4:], b.ws[4:])
    assert out.recipe == {"op": "edit", "plugin": "builtin.style_mix", "version": 1, "params": {"layers": [4, 6]},
                          "inputs": [a.recipe, b.recipe]}
    assert out.model == gen.fingerprint


def test_antiface_and_truncation(registry, gen, faces):
    a = faces[0]
    w_avg = gen.w_avg.numpy()
    np.testing.assert_allclose(one(registry, "builtin.antiface", [a], None, gen).ws, 2 * w_avg - a.ws, atol=1e-6)
    anti = one(registry, "builtin.antiface", [a], {"layers": "medium"}, gen).ws
    np.testing.assert_array_equal(anti[:4], a.ws[:4])
    np.testing.assert_allclose(anti[4:], 2 * w_avg - a.ws[4:], atol=1e-6)
    trunc = one(registry, "builtin.truncation", [a], {"psi": 0.5}, gen).ws
    np.testing.assert_allclose(trunc, w_avg + 0.5 * (a.ws - w_avg), atol=1e-6)
    default = one(registry, "builtin.truncation", [a], None, gen)
    assert default.recipe["params"] == {"psi": 0.7, "layers": "all"}


def test_average_of_n_faces(registry, gen, faces):
    out = one(registry, "builtin.average", faces, None, gen)
    np.testing.assert_allclose(out.ws, np.mean([f.ws for f in faces], axis=0), atol=1e-6)
    assert len(out.recipe["inputs"]) == 3
    with pytest.raises(PluginError, match="2 or more"):
        registry.apply("builtin.average", faces[:1], model=gen)
    assert registry.get("builtin.average") in registry.available(n_inputs=5)
    assert registry.get("builtin.average") not in registry.available(n_inputs=1)


def test_exaggerate_per_layer_group(registry, gen, faces):
    a = faces[0]
    w_avg = gen.w_avg.numpy()
    out = one(registry, "builtin.exaggerate", [a], {"coarse": 2.0, "medium": 0.0}, gen).ws
    np.testing.assert_allclose(out[:4], w_avg + 2.0 * (a.ws[:4] - w_avg), atol=1e-5)
    np.testing.assert_allclose(out[4:], np.broadcast_to(w_avg, (2, 8)), atol=1e-6)


def test_move_along_direction(registry, gen, faces):
    a = faces[0]
    d = np.zeros(8, np.float32)
    d[2] = 1.0
    dirs = {"smile": DirectionRef("smile", d), "age": DirectionRef("age", d, layers="medium")}
    out = one(registry, "builtin.move_direction", [a], {"direction": "smile", "amount": -2.0}, gen,
              directions=dirs).ws
    np.testing.assert_allclose(out, a.ws - 2.0 * d, atol=1e-6)
    aged = one(registry, "builtin.move_direction", [a], {"direction": "age", "amount": 1.0}, gen, directions=dirs).ws
    np.testing.assert_array_equal(aged[:4], a.ws[:4])              # the direction's own layers only
    np.testing.assert_allclose(aged[4:], a.ws[4:] + d, atol=1e-6)
    none = one(registry, "builtin.move_direction", [a], {}, gen).ws
    np.testing.assert_array_equal(none, a.ws)


def test_noise_variation(registry, gen, faces):
    out = one(registry, "builtin.noise_variation", [faces[0]], {"seed": 9, "strength": 0.5, "layers": "coarse"}, gen)
    np.testing.assert_array_equal(out.ws, faces[0].ws)
    assert out.noise == NoiseSpec("random", 9, 0.5, (0, 4))
    assert one(registry, "builtin.noise_variation", [faces[0]], None, gen).noise.layers is None
    mixed = one(registry, "builtin.style_mix", [out, faces[1]], None, gen)
    assert mixed.noise == out.noise                                # edits keep the first input's noise


def test_children_are_reproducible_and_seeded(registry, gen, faces):
    kids = registry.apply("builtin.children", [faces[0]], {"count": 4}, model=gen)
    assert len(kids) == 4 and [k.recipe["output"] for k in kids] == [0, 1, 2, 3]
    assert all(k.recipe["params"]["count"] == 4 for k in kids)
    again = registry.apply("builtin.children", [faces[0]], {"count": 4}, model=gen)
    for k, k2 in zip(kids, again):
        np.testing.assert_array_equal(k.ws, k2.ws)
    assert not np.array_equal(kids[0].ws, kids[1].ws)
    other = registry.apply("builtin.children", [faces[0]], {"count": 4, "seed": 1}, model=gen)
    assert not np.array_equal(other[0].ws, kids[0].ws)
    same = registry.apply("builtin.children", [faces[0]], {"count": 2, "coarse": 0.0, "medium": 0.0}, model=gen)
    np.testing.assert_array_equal(same[0].ws, faces[0].ws)      # zero strength everywhere = the parent
    # strength 1 = a fresh face from the model's own mapping
    full = registry.apply("builtin.children", [faces[0]], {"count": 1, "coarse": 1.0, "medium": 1.0}, model=gen)[0]
    assert np.allclose(full.ws, full.ws[0], atol=1e-6), "a mapped face has the same w on every layer"


def test_children_use_mutate(gen, faces):
    """The context's rng and sample_ws are what children draws from (no hidden randomness)."""
    from plugins.children import Children

    plugin = Children()
    params = plugin.validate_params({"count": 2})
    ctx = EditContext(info=gen.info, w_avg=gen.w_avg.numpy(), rng=np.random.default_rng(5))
    kids = plugin.apply([faces[0]], params, ctx)
    fresh = EditContext(info=gen.info, w_avg=gen.w_avg.numpy(), rng=np.random.default_rng(5)).sample_ws(2)
    strengths = {g: params[g] for g in ("coarse", "medium", "fine")}
    np.testing.assert_array_equal(kids[1], mutate(faces[0].ws, fresh[1], strengths, gen.info.groups))


def test_crossbreed_picks_layers_from_parents(registry, gen, faces):
    a, b, _ = faces
    kids = registry.apply("builtin.crossbreed", [a, b], {"count": 3, "blend": 0.0}, model=gen)
    assert len(kids) == 3
    for k in kids:
        for row in range(gen.info.num_ws):
            assert np.array_equal(k.ws[row], a.ws[row]) or np.array_equal(k.ws[row], b.ws[row])
    again = registry.apply("builtin.crossbreed", [a, b], {"count": 3, "blend": 0.0}, model=gen)
    np.testing.assert_array_equal(kids[2].ws, again[2].ws)


def test_colour_grade_is_an_image_edit(registry, gen, faces):
    graded = one(registry, "builtin.colour_grade", [faces[0]], {"saturation": 0.0}, gen)
    np.testing.assert_array_equal(graded.ws, faces[0].ws)
    assert graded.post == ({"plugin": "builtin.colour_grade", "version": 1,
                            "params": {"brightness": 0.0, "contrast": 1.0, "saturation": 0.0, "tint": "#ffffff",
                                       "tint_amount": 0.0}},)
    assert graded.recipe["plugin"] == "builtin.colour_grade"
    img = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    grey = registry.apply_post(img, graded.post)
    assert grey.dtype == np.uint8 and grey.shape == img.shape
    assert np.abs(grey.astype(int) - grey[..., :1]).max() <= 1     # saturation 0: grey
    unchanged = registry.apply_image("builtin.colour_grade", img, {})
    np.testing.assert_array_equal(unchanged, img)
    # a later latent edit keeps the grade
    kid = one(registry, "builtin.antiface", [graded], None, gen)
    assert kid.post == graded.post


# ----- recipes ------------------------------------------------------------------------------------------
def test_recipe_round_trip(registry, gen, faces, tmp_path):
    a, b, c = faces
    mix = one(registry, "builtin.style_mix", [a, b], {"layers": "medium"}, gen)
    kids = registry.apply("builtin.children", [mix], {"count": 5, "seed": 3}, model=gen)
    cross = registry.apply("builtin.crossbreed", [kids[3], c], {"count": 2}, model=gen)[1]
    noisy = one(registry, "builtin.noise_variation", [cross], {"seed": 4}, gen)
    avg = one(registry, "builtin.average", [noisy, a, b], None, gen)
    final = one(registry, "builtin.colour_grade", [one(registry, "builtin.exaggerate", [avg], None, gen)],
                {"tint": "#ff8800", "tint_amount": 0.3}, gen)

    path = save_latents_json(tmp_path / "faces.json", [final, kids[3]])
    loaded = load_latents_json(path)
    np.testing.assert_array_equal(loaded[0].ws, final.ws)
    assert loaded[0].recipe == final.recipe

    fresh = PluginRegistry()            # a new session: nothing loaded yet
    fresh.discover(folder=None)
    again = replay(loaded[0].recipe, gen, fresh)
    np.testing.assert_array_equal(again.ws, final.ws)
    assert again.noise == final.noise == noisy.noise
    assert again.post == final.post and again.recipe == final.recipe
    kid = replay(loaded[1].recipe, gen, fresh)
    np.testing.assert_array_equal(kid.ws, kids[3].ws)


def test_replay_uses_switched_off_plugins_but_checks_versions(registry, gen, faces):
    out = one(registry, "builtin.antiface", [faces[0]], None, gen)
    registry.set_enabled("builtin.antiface", False)
    with pytest.raises(PluginError, match="switched off"):
        registry.apply("builtin.antiface", [faces[0]], model=gen)
    np.testing.assert_array_equal(replay(out.recipe, gen, registry).ws, out.ws)
    with pytest.raises(RecipeError, match="version"):
        replay(dict(out.recipe, version=7), gen, registry)
    with pytest.raises(RecipeError):
        replay({"op": "import", "name": "photo"}, gen, registry)


# ----- isolation ------------------------------------------------------------------------------------
@pytest.fixture
def isolated(registry):
    for cls in (Raising, Slow, Patient, Stuck, WrongShape, NaNResult, IntResult, WrongCount, BadImage, AllFields):
        registry.register(cls, source="test")
    return registry


def assert_still_works(reg, gen, faces):
    out = reg.apply("builtin.antiface", [faces[0]], model=gen)
    assert len(out) == 1 and reg.record("builtin.antiface").status == "loaded"


@pytest.mark.parametrize("pid, words", [
    ("test.raising", "RuntimeError: boom from the plugin"),
    ("test.wrong_shape", "shape (5, 8)"),
    ("test.nan", "non-finite"),
    ("test.int_result", "dtype int64"),
    ("test.wrong_count", "expected 3 results, got 2"),
])
def test_misbehaving_plugin_is_reported_and_disabled(isolated, gen, faces, pid, words):
    changes = []
    isolated.on_change.append(changes.append)
    with pytest.raises(PluginError) as err:
        isolated.apply(pid, [faces[0]], model=gen)
    assert err.value.plugin_id == pid and err.value.disabled and words in str(err.value)
    rec = isolated.record(pid)
    assert rec.status == "disabled" and not rec.enabled and words in rec.error
    assert changes and changes[-1] is rec
    with pytest.raises(PluginError, match="disabled for this session"):
        isolated.apply(pid, [faces[0]], model=gen)
    assert isolated.get(pid) not in isolated.available()
    assert_still_works(isolated, gen, faces)


def test_raising_plugin_keeps_the_traceback(isolated, gen, faces):
    with pytest.raises(PluginError):
        isolated.apply("test.raising", [faces[0]], model=gen)
    assert "boom from the plugin" in isolated.record("test.raising").details


@pytest.mark.parametrize("pid", ["test.slow", "test.stuck"])
def test_plugin_past_its_time_limit_is_disabled(isolated, gen, faces, pid):
    start = time.monotonic()
    with pytest.raises(PluginError, match="time limit of 0.2 s") as err:
        isolated.apply(pid, [faces[0]], model=gen)
    assert time.monotonic() - start < 1.2, "the caller must not wait for a stuck plugin"
    assert err.value.disabled and isolated.record(pid).status == "disabled"
    assert_still_works(isolated, gen, faces)


def test_bad_image_result_is_disabled(isolated):
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(PluginError, match="uint8"):
        isolated.apply_image("test.bad_image", img)
    assert isolated.record("test.bad_image").status == "disabled"


def test_cancel_is_not_a_failure(isolated, gen, faces):
    flag = threading.Event()
    threading.Timer(0.05, flag.set).start()
    with pytest.raises(EditCancelled):
        isolated.apply("test.patient", [faces[0]], model=gen, cancelled=flag.is_set)
    assert isolated.record("test.patient").status == "loaded"


def test_progress_is_reported(registry, gen, faces):
    seen = []
    registry.apply("builtin.children", [faces[0]], {"count": 3}, model=gen, progress=seen.append)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def test_plugin_failing_to_import_is_reported(tmp_path, monkeypatch, gen, faces):
    module = unique("broken_plugin")
    write_distribution(tmp_path, "broken-plugin", {"broken.thing": f"{module}:Thing"},
                       {module: "raise ImportError('needs a library you do not have')\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "half_written.py").write_text("from explorer.plugins import Plugin\nclass X(Plugin:\n")
    (folder / "raises_on_import.py").write_text(textwrap.dedent("""
        from explorer.plugins import Plugin
        raise ValueError("configured wrongly")

        class Y(Plugin):
            id = "user.raises"
    """))
    reg = PluginRegistry()
    reg.discover(folder=folder)
    assert reg.record("half_written.py").status == "failed"
    assert "SyntaxError" in reg.record("half_written.py").error
    assert reg.record("broken.thing").status == "not loaded"
    plugins = reg.available()                               # loads everything: the broken ones fail
    assert {p.id for p in plugins} >= BUILTIN_IDS
    assert not {"broken.thing", "user.raises"} & {p.id for p in plugins}
    for pid, words in [("broken.thing", "needs a library"), ("user.raises", "configured wrongly")]:
        rec = reg.record(pid)
        assert rec.status == "failed" and not rec.enabled and words in rec.error
        with pytest.raises(PluginError, match=words):
            reg.apply(pid, [faces[0]], model=gen)
    assert_still_works(reg, gen, faces)


def test_switching_plugins_off_and_on(registry, gen, faces):
    changes = []
    registry.on_change.append(changes.append)
    registry.set_enabled("builtin.truncation", False)
    assert changes[-1].id == "builtin.truncation" and not changes[-1].enabled
    assert "builtin.truncation" not in {p.id for p in registry.available()}
    registry.set_enabled("builtin.truncation", True)
    assert "builtin.truncation" in {p.id for p in registry.available()}
    registry.set_enabled("builtin.average", False)
    registry.discover(folder=None)                          # a re-scan keeps the user's switches
    assert not registry.record("builtin.average").enabled


def test_disabled_plugin_can_be_rearmed(isolated, gen, faces):
    with pytest.raises(PluginError):
        isolated.apply("test.nan", [faces[0]], model=gen)
    isolated.set_enabled("test.nan", True)
    rec = isolated.record("test.nan")
    assert rec.status == "loaded" and rec.enabled and rec.error is None


def test_duplicate_ids_are_reported(registry):
    from plugins.antiface import Antiface

    rec = registry.register(Antiface)
    assert rec.id == "builtin.antiface#2" and rec.status == "failed" and "duplicate" in rec.error


def test_engine_and_builtins_do_not_import_qt():
    code = ("import sys, explorer.plugins, explorer.recipes\n"
            "from explorer.plugins import PluginRegistry\n"
            "r = PluginRegistry(); r.discover(folder=None); r.available()\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'superqt', 'pyqtgraph', 'ui')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


def test_the_plugin_id_constants_name_the_built_in_plugins(registry):
    from explorer import plugin_ids

    loaded = {pid: registry.get(pid).id for pid in plugin_ids.BUILTIN}
    assert loaded == {pid: pid for pid in plugin_ids.BUILTIN}, "each constant is a built-in plugin's own id"
    assert set(plugin_ids.BUILTIN) == {r.id for r in registry.records() if r.source == "built-in"}
