"""Choosing which layers a mix takes: the drop menu, the custom-range dialog, their words."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QMenu, QVBoxLayout, QWidget
from superqt import QLabeledRangeSlider

from explorer.layers import GROUP_NAMES as GROUPS
from explorer.layers import GROUP_WORDS
SHORTCUT_WORDS = {"coarse": "Shift", "medium": "Ctrl", "fine": "Alt"}


def spec_text(spec, info=None) -> str:
    """'coarse (pose, face shape)', 'layers 2-5', 'all layers'."""
    if spec == "all" or spec is None:
        return "all layers"
    if isinstance(spec, str):
        return f"{spec} ({GROUP_WORDS.get(spec, '')})"
    start, stop = spec
    return f"layer {start}" if stop - start == 1 else f"layers {start}-{stop - 1}"


def spec_range_text(spec, info) -> str:
    """Which ws indices and resolutions a spec covers on this model: 'layers 0-3 · 4-8 px'."""
    if info is None:
        return ""
    if spec == "all":
        r = range(info.num_ws)
    elif isinstance(spec, str):
        r = info.groups.get(spec, range(0))
    else:
        r = range(*spec)
    if not len(r):
        return "none in this model"
    res = info.ws_resolutions
    lo, hi = res[r.start], res[r.stop - 1]
    where = f"{lo} px" if lo == hi else f"{lo}-{hi} px"
    return f"layers {r.start}-{r.stop - 1} · {where}"


def normalise_spec(spec):
    """Specs from settings come back as strings or lists of strings."""
    if isinstance(spec, (list, tuple)) and len(spec) == 2:
        return [int(spec[0]), int(spec[1])]
    if isinstance(spec, str) and spec in (*GROUPS, "all"):
        return spec
    return "coarse"


def ask_drop_group(parent: QWidget, global_pos: QPoint, info, last, last_custom, title: str = ""):
    """The small menu shown on drop. Returns a spec, or None when the user dismissed it."""
    menu = QMenu(parent)
    menu.setToolTipsVisible(True)
    if title:
        head = menu.addAction(title)
        head.setEnabled(False)
        menu.addSeparator()
    chosen_default = None
    for i, g in enumerate(GROUPS, start=1):
        span = spec_range_text(g, info)
        act = menu.addAction(f"&{i}  {g.capitalize()} — {GROUP_WORDS[g]}\t{SHORTCUT_WORDS[g]}")
        act.setData(g)
        act.setToolTip(f"{span}  (shortcut: hold {SHORTCUT_WORDS[g]} while dropping)")
        act.setEnabled(info is None or bool(len(info.groups.get(g, ()))))
        if last == g and act.isEnabled():
            chosen_default = act
    act = menu.addAction("&4  All layers")
    act.setData("all")
    act.setToolTip(spec_range_text("all", info))
    if last == "all":
        chosen_default = act
    menu.addSeparator()
    if last_custom:
        act = menu.addAction(f"&5  Custom: {spec_text(last_custom)}")
        act.setData(list(last_custom))
        act.setToolTip(spec_range_text(last_custom, info))
        if isinstance(last, list) and list(last) == list(last_custom):
            chosen_default = act
    custom = menu.addAction("&6  Custom layer range…")
    custom.setData("custom")
    if chosen_default is not None:
        font = QFont(chosen_default.font())
        font.setBold(True)
        chosen_default.setFont(font)
        menu.setDefaultAction(chosen_default)
        menu.setActiveAction(chosen_default)
    picked = menu.exec(global_pos, chosen_default)
    if picked is None:
        return None
    data = picked.data()
    if data == "custom":
        return ask_layer_range(parent, info, last_custom)
    return data


class LayerRangeDialog(QDialog):
    def __init__(self, parent, info, initial=None):
        super().__init__(parent)
        self.setWindowTitle("Custom layer range")
        n = info.num_ws if info is not None else 18
        self.info = info
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 16)
        lay.setSpacing(12)
        intro = QLabel("The source face's styles are taken on these layers, the target's everywhere else.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.slider = QLabeledRangeSlider(Qt.Horizontal)
        self.slider.setRange(0, n - 1)
        start, stop = (initial or [0, min(n, 4)])
        self.slider.setValue((start, stop - 1))
        lay.addWidget(self.slider)
        self.detail = QLabel()
        self.detail.setProperty("role", "hint")
        lay.addWidget(self.detail)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.slider.valueChanged.connect(self._update)
        self._update()
        self.resize(440, self.sizeHint().height())

    def spec(self) -> list[int]:
        lo, hi = (int(v) for v in self.slider.value())
        return [lo, hi + 1]

    def _update(self, *_):
        self.detail.setText(spec_range_text(self.spec(), self.info))


def ask_layer_range(parent, info, initial=None):
    dlg = LayerRangeDialog(parent, info, initial)
    return dlg.spec() if dlg.exec() == QDialog.Accepted else None
