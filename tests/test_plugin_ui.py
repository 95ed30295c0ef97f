"""Generated plugin forms and the plugin list (pytest-qt, offscreen)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

pytest.importorskip("PySide6")
pytest.importorskip("superqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QColor  # noqa: E402
from PySide6.QtWidgets import QSpinBox  # noqa: E402
from superqt import QLabeledDoubleSlider, QLabeledRangeSlider, QLabeledSlider  # noqa: E402

from explorer import Generator, stylegan2_config  # noqa: E402
from explorer.edits import truncate  # noqa: E402
from explorer.latents import latent_from_seed  # noqa: E402
from explorer.plugins import ParamError, Plugin, PluginRegistry  # noqa: E402
from tests.plugin_support import AllFields  # noqa: E402
from ui import plugin_form  # noqa: E402
from ui.plugin_form import PluginForm  # noqa: E402
from ui.plugin_list import COL_NAME, COL_SOURCE, COL_STATUS, PluginListWidget  # noqa: E402


class Broken(Plugin):
    id = "test.broken"

    def apply(self, inputs, params, context):
        raise RuntimeError("kaput")


@pytest.fixture(scope="module")
def gen() -> Generator:
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


@pytest.fixture
def form(qtbot, gen):
    w = PluginForm(AllFields(), directions=["smile", "age"], info=gen.info)
    qtbot.addWidget(w)
    return w


def edit(qtbot, form, change):
    """Run `change` and return the params the form emitted for it."""
    with qtbot.waitSignal(form.paramsChanged, timeout=2000) as blocker:
        change()
    params = blocker.args[0]
    assert form.plugin.validate_params(params) == params   # whatever the form emits is valid
    return params


def test_form_is_built_from_the_schema(form):
    assert set(form.editors) == {f.name for f in AllFields.params}
    assert isinstance(form.editor("amount").slider, QLabeledDoubleSlider)
    assert isinstance(form.editor("count").control, QLabeledSlider)
    assert isinstance(form.editor("seed").control, QSpinBox)        # too wide for a slider
    assert isinstance(form.editor("layers").range, QLabeledRangeSlider)
    assert form.editor("amount").toolTip() == "How much."
    assert form.values() == AllFields().defaults()


def test_editing_parameters_emits_them(qtbot, form):
    p = edit(qtbot, form, lambda: form.editor("amount").slider.setValue(-0.3))
    assert p["amount"] == pytest.approx(-0.3) and p["count"] == 3 and p["mode"] == "soft"
    assert edit(qtbot, form, lambda: form.editor("count").control.setValue(7))["count"] == 7
    assert edit(qtbot, form, lambda: form.editor("seed").control.setValue(123456))["seed"] == 123456
    assert edit(qtbot, form, lambda: form.editor("flip").check.setChecked(True))["flip"] is True
    assert edit(qtbot, form, lambda: form.editor("mode").combo.setCurrentText("hard"))["mode"] == "hard"
    assert edit(qtbot, form, lambda: form.editor("direction").combo.setCurrentIndex(1))["direction"] == "smile"
    assert edit(qtbot, form, lambda: form.editor("image").line.setText("/tmp/a.png"))["image"] == "/tmp/a.png"
    assert edit(qtbot, form, lambda: form.editor("tint").set_value("#FF0000"))["tint"] == "#ff0000"
    layers = form.editor("layers")
    assert edit(qtbot, form, lambda: layers.combo.setCurrentIndex(layers.combo.findData("medium")))["layers"] == "medium"
    custom = edit(qtbot, form, lambda: layers.combo.setCurrentIndex(layers.combo.findData("custom")))
    assert custom["layers"] == [4, 6]                      # custom starts from the group it came from
    assert layers.range.isVisibleTo(form)
    assert edit(qtbot, form, lambda: layers.range.setValue((1, 2)))["layers"] == [1, 3]   # stop exclusive


def test_layer_groups_show_the_models_ranges(form, gen):
    combo = form.editor("layers").combo
    assert combo.itemText(combo.findData("coarse")) == "coarse (0–3)"
    assert combo.itemText(combo.findData("fine")) == "fine (none)"      # a 16px model has no fine layers
    assert form.editor("layers").range.maximum() == gen.info.num_ws - 1


def test_apply_button_emits_the_values(qtbot, form):
    form.editor("mode").combo.setCurrentText("hard")
    with qtbot.waitSignal(form.applyRequested, timeout=2000) as blocker:
        qtbot.mouseClick(form.apply_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == form.values() and blocker.args[0]["mode"] == "hard"


def test_set_values_and_reset(qtbot, form):
    values = {"amount": 0.2, "count": 5, "flip": True, "mode": "hard", "layers": [2, 5], "direction": "age",
              "image": "x.png", "tint": "#00ff00", "seed": 99}
    with qtbot.waitSignal(form.paramsChanged, timeout=2000) as blocker:
        form.set_values(values)
    assert blocker.args[0] == form.values() == values
    form.set_values({"direction": "frown"})                # from a recipe whose direction is not loaded
    assert form.values()["direction"] == "frown"
    with pytest.raises(ParamError, match="'amount'"):
        form.set_values({"amount": 4.0})
    form.reset()
    assert form.values() == AllFields().defaults()


def test_dialog_buttons(qtbot, form, monkeypatch):
    monkeypatch.setattr(plugin_form.QColorDialog, "getColor", staticmethod(lambda *a, **k: QColor("#abcdef")))
    monkeypatch.setattr(plugin_form.QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: ("/x/y.png", "")))
    assert edit(qtbot, form, lambda: form.editor("tint").button.click())["tint"] == "#abcdef"
    assert edit(qtbot, form, lambda: form.editor("image").browse.click())["image"] == "/x/y.png"


def test_every_builtin_gets_a_form(qtbot, registry, gen):
    for plugin in registry.available():
        w = PluginForm(plugin, info=gen.info)
        qtbot.addWidget(w)
        assert plugin.validate_params(w.values(), gen.info) == plugin.defaults()


def test_form_edit_makes_a_new_cell(qtbot, registry, gen):
    """Edit psi in the generated truncation form, apply: the new latent is the truncated face."""
    face = latent_from_seed(gen, 4)
    form = PluginForm(registry.get("builtin.truncation"), info=gen.info)
    qtbot.addWidget(form)
    cells = []
    form.applyRequested.connect(lambda params: cells.extend(registry.apply("builtin.truncation", [face], params,
                                                                           model=gen)))
    form.editor("psi").slider.setValue(0.25)
    qtbot.mouseClick(form.apply_button, Qt.MouseButton.LeftButton)
    assert len(cells) == 1
    w_avg = gen.w_avg.numpy()
    np.testing.assert_allclose(cells[0].ws, w_avg + 0.25 * (face.ws - w_avg), atol=1e-5)
    np.testing.assert_allclose(cells[0].ws, truncate(face.ws, w_avg, 0.25), atol=1e-6)
    assert cells[0].recipe["params"]["psi"] == pytest.approx(0.25)


# ----- plugin list ------------------------------------------------------------------------------
def test_plugin_list_shows_records_and_toggles(qtbot, registry):
    view = PluginListWidget(registry)
    qtbot.addWidget(view)
    assert view.tree.topLevelItemCount() == len(registry.records())
    item = view.item("builtin.style_mix")
    assert item.text(COL_SOURCE) == "built-in" and item.text(COL_STATUS) == "not loaded"
    assert item.checkState(COL_NAME) == Qt.CheckState.Checked
    with qtbot.waitSignal(view.pluginToggled, timeout=2000) as blocker:
        item.setCheckState(COL_NAME, Qt.CheckState.Unchecked)
    assert blocker.args == ["builtin.style_mix", False]
    assert not registry.record("builtin.style_mix").enabled
    assert "builtin.style_mix" not in {p.id for p in registry.available()}
    assert view.item("builtin.style_mix").text(COL_STATUS) == "not loaded, off"
    item.setCheckState(COL_NAME, Qt.CheckState.Checked)
    assert registry.record("builtin.style_mix").enabled


def test_plugin_list_follows_failures_from_other_threads(qtbot, registry, gen):
    registry.register(Broken, source="test")
    view = PluginListWidget(registry)
    qtbot.addWidget(view)
    face = latent_from_seed(gen, 1)
    errors = []

    def worker():   # edits run off the GUI thread in the app: the list must still follow
        try:
            registry.apply("test.broken", [face], model=gen)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=worker)
    t.start()
    t.join(10)
    item = view.item("test.broken")
    qtbot.waitUntil(lambda: item.text(COL_STATUS) == "disabled", timeout=2000)
    assert "kaput" in item.toolTip(COL_STATUS)
    assert item.checkState(COL_NAME) == Qt.CheckState.Unchecked
    assert errors and "kaput" in str(errors[0])
    # the rest of the registry is untouched
    assert registry.apply("builtin.antiface", [face], model=gen)
    assert view.item("builtin.antiface").text(COL_STATUS) == "loaded"


def test_plugin_list_rebuilds_after_discover(qtbot, registry):
    view = PluginListWidget(registry)
    qtbot.addWidget(view)
    registry.register(AllFields, source="test")
    assert view.item("test.all_fields").text(COL_SOURCE) == "test"


def test_inspector_sections_are_the_plugins_own_forms(qtbot, window):
    """Truncation, antiface and children are generated from the registered plugins' schemas: one
    editor per declared parameter (the children's seed is the inspector's: a new litter per click),
    and what the editors say is what the plugin receives."""
    insp = window.inspector
    for form, pid, hidden in ((insp.trunc_form, "builtin.truncation", set()),
                              (insp.anti_form, "builtin.antiface", set()),
                              (insp.child_form, "builtin.children", {"seed"})):
        plugin = window.registry.get(pid)
        assert form.plugin is plugin
        assert set(form.editors) == {f.name for f in plugin.params} - hidden
        for f in plugin.params:
            if f.name in form.editors:
                assert form.editors[f.name].toolTip() == f.help
    insp.trunc_form.editor("psi").slider.setValue(0.25)
    insp.trunc_form.editor("layers").set_value("medium")
    assert insp.truncation_params() == {"psi": 0.25, "layers": "medium"}
    insp.child_form.editor("coarse").slider.setValue(0.9)
    p = insp.children_params()
    assert p["coarse"] == 0.9 and p["seed"] == insp.litter and set(p) == {"count", "coarse", "medium", "fine", "seed"}


def test_wheel_scrolls_the_inspector_not_the_form_under_the_mouse(qtbot, window):
    """Scrolling the inspector over a generated form's Layers box leaves the edit's layers alone
    (the wheel goes on to the panel); once clicked (focused), the wheel changes it as usual."""
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    insp = window.inspector
    combo = insp.trunc_form.editor("layers").combo
    before = insp.truncation_params()["layers"]

    def wheel(widget):
        pos = QPointF(widget.rect().center())
        ev = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, -120),
                         Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
        QApplication.sendEvent(widget, ev)
        return ev

    ev = wheel(combo)
    assert insp.truncation_params()["layers"] == before
    # left unaccepted: a real (spontaneous) wheel event then goes on to the scroll area (a synthetic
    # one stops here by Qt's rule; the scrolling itself was checked under Xvfb with xdotool)
    assert not ev.isAccepted()
    from tests.window_support import activate

    activate(qtbot, window)
    combo.setFocus()                                        # as a click on it does
    qtbot.waitUntil(combo.hasFocus, timeout=5000)
    wheel(combo)
    assert insp.truncation_params()["layers"] != before
