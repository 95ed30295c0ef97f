"""A plugin's parameter form, generated from its schema (explorer.plugins fields).

No plugin gets a hand-built panel: each field type maps to one editor (superqt sliders for
ranges, a combo for choices, groups and directions, a range slider for custom layer ranges, a
line edit + browse button for paths, a swatch button for colours). The form emits
`paramsChanged` on every edit (the window debounces its live preview) and `applyRequested`
when the user asks for a new cell.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractSlider, QAbstractSpinBox, QCheckBox, QColorDialog, QComboBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QToolButton,
                               QVBoxLayout, QWidget)
from superqt import QLabeledDoubleSlider, QLabeledRangeSlider, QLabeledSlider
from superqt.utils import signals_blocked

from explorer.latents import GROUP_NAMES
from explorer.plugins import (BoolField, ChoiceField, ColorField, DirectionField, Field, FloatField, IntField,
                              LayerRangeField, PathField, Plugin)

MAX_SLIDER_STEPS = 1000        # an int range wider than this gets a spin box (seeds), not a slider
DEFAULT_NUM_WS = 18            # layer-range slider size before a model is known (1024px StyleGAN2)
CUSTOM_LAYERS = "custom"
NO_DIRECTION = "(none)"


class WheelGuard(QObject):
    """A form sits in a scroll area: the mouse wheel scrolls the panel, and changes a combo box,
    slider or spin box only once the user has clicked it (focus). Otherwise scrolling past a
    form's Layers box would quietly change the edit's layers."""

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Wheel and not obj.hasFocus():
            event.ignore()       # filtered but not accepted: Qt hands it on to the scroll area
            return True
        return False


WHEEL_GUARD = WheelGuard()


def guard_wheel(widget: QWidget) -> None:
    """WheelGuard on every combo box, slider and spin box inside `widget`."""
    for w in widget.findChildren(QWidget):
        if isinstance(w, (QComboBox, QAbstractSlider, QAbstractSpinBox)):
            w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            w.installEventFilter(WHEEL_GUARD)


class FieldEditor(QWidget):
    """One field's control: `value()`, `set_value(v)` and a `changed` signal."""
    changed = Signal()

    def __init__(self, field: Field, parent=None):
        super().__init__(parent)
        self.field = field
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        if field.help:
            self.setToolTip(field.help)

    def value(self):
        raise NotImplementedError

    def set_value(self, value) -> None:
        raise NotImplementedError


class FloatEditor(FieldEditor):
    def __init__(self, field: FloatField, parent=None):
        super().__init__(field, parent)
        self.slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(float(field.min), float(field.max))
        self.slider.setSingleStep(float(field.step))
        self.slider.setDecimals(max(field.decimals(), 1))
        self.slider.setValue(float(field.default))
        self.slider.valueChanged.connect(lambda _v: self.changed.emit())
        self._layout.addWidget(self.slider)

    def value(self) -> float:
        return round(float(self.slider.value()), max(self.field.decimals(), 1) + 3)

    def set_value(self, value) -> None:
        self.slider.setValue(float(value))


class IntEditor(FieldEditor):
    def __init__(self, field: IntField, parent=None):
        super().__init__(field, parent)
        if field.max - field.min <= MAX_SLIDER_STEPS:
            self.control = QLabeledSlider(Qt.Orientation.Horizontal)
        else:
            self.control = QSpinBox()
        self.control.setRange(int(field.min), int(field.max))
        self.control.setSingleStep(int(field.step))
        self.control.setValue(int(field.default))
        self.control.valueChanged.connect(lambda _v: self.changed.emit())
        self._layout.addWidget(self.control)

    def value(self) -> int:
        return int(self.control.value())

    def set_value(self, value) -> None:
        self.control.setValue(int(value))


class BoolEditor(FieldEditor):
    def __init__(self, field: BoolField, parent=None):
        super().__init__(field, parent)
        self.check = QCheckBox()
        self.check.setChecked(bool(field.default))
        self.check.toggled.connect(lambda _v: self.changed.emit())
        self._layout.addWidget(self.check)

    def value(self) -> bool:
        return self.check.isChecked()

    def set_value(self, value) -> None:
        self.check.setChecked(bool(value))


class ChoiceEditor(FieldEditor):
    def __init__(self, field: ChoiceField, parent=None):
        super().__init__(field, parent)
        self.combo = QComboBox()
        self.combo.addItems(field.choices)
        self.combo.setCurrentText(field.default)
        self.combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self._layout.addWidget(self.combo)

    def value(self) -> str:
        return self.combo.currentText()

    def set_value(self, value) -> None:
        self.combo.setCurrentText(str(value))


class LayerRangeEditor(FieldEditor):
    """Group combo (coarse / medium / fine / all / custom) + a range slider for custom ranges."""

    def __init__(self, field: LayerRangeField, parent=None, info=None):
        super().__init__(field, parent)
        self._info = info
        self.combo = QComboBox()
        for name in (*GROUP_NAMES, "all", CUSTOM_LAYERS):
            self.combo.addItem(name, name)
        self.range = QLabeledRangeSlider(Qt.Orientation.Horizontal)
        self.range.setToolTip("First and last layer (inclusive)")
        box = QVBoxLayout()
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.combo)
        box.addWidget(self.range)
        self._layout.addLayout(box)
        self._apply_info()
        self.set_value(field.default)
        self.combo.currentIndexChanged.connect(self._combo_changed)
        self.range.valuesChanged.connect(lambda _v: self.changed.emit())

    @property
    def num_ws(self) -> int:
        return int(self._info.num_ws) if self._info is not None else DEFAULT_NUM_WS

    def set_info(self, info) -> None:
        value = self.value()
        self._info = info
        self._apply_info()
        self.set_value(value)

    def _apply_info(self) -> None:
        self.range.setRange(0, self.num_ws - 1)
        groups = getattr(self._info, "groups", None) or {}
        for i in range(self.combo.count()):
            name = self.combo.itemData(i)
            r = groups.get(name) if name in groups else (range(self.num_ws) if name == "all" and self._info else None)
            text = name if r is None else (f"{name} ({r.start}–{r.stop - 1})" if len(r) else f"{name} (none)")
            self.combo.setItemText(i, text)

    def _combo_changed(self, _index: int) -> None:
        name = self.combo.currentData()
        self.range.setVisible(name == CUSTOM_LAYERS)
        if name != CUSTOM_LAYERS:
            groups = getattr(self._info, "groups", None) or {}
            r = range(self.num_ws) if name == "all" else groups.get(name)
            if r is not None and len(r):
                with signals_blocked(self.range):
                    self.range.setValue((r.start, r.stop - 1))
        self.changed.emit()

    def value(self):
        name = self.combo.currentData()
        if name != CUSTOM_LAYERS:
            return name
        lo, hi = (int(round(v)) for v in self.range.value())
        return [lo, hi + 1]   # stop is exclusive in the API

    def set_value(self, value) -> None:
        value = self.field.validate(value)
        with signals_blocked(self.combo), signals_blocked(self.range):
            if isinstance(value, str):
                self.combo.setCurrentIndex(self.combo.findData(value))
                self.range.setVisible(False)
            else:
                start, stop = value
                if stop > self.num_ws and self._info is None:
                    self.range.setRange(0, stop - 1)
                self.combo.setCurrentIndex(self.combo.findData(CUSTOM_LAYERS))
                self.range.setValue((start, stop - 1))
                self.range.setVisible(True)
        self.changed.emit()


class DirectionEditor(FieldEditor):
    def __init__(self, field: DirectionField, parent=None, directions=()):
        super().__init__(field, parent)
        self.combo = QComboBox()
        self._layout.addWidget(self.combo)
        self.set_directions(directions)
        self.set_value(field.default)
        self.combo.currentIndexChanged.connect(lambda _i: self.changed.emit())

    def set_directions(self, names) -> None:
        current = self.value() if self.combo.count() else ""
        with signals_blocked(self.combo):
            self.combo.clear()
            self.combo.addItem(NO_DIRECTION, "")
            for name in names:
                self.combo.addItem(str(name), str(name))
        self.set_value(current)

    def value(self) -> str:
        return self.combo.currentData() or ""

    def set_value(self, value) -> None:
        value = value or ""
        index = self.combo.findData(value)
        if index < 0:  # a recipe's direction that is not loaded: keep it visible rather than drop it
            self.combo.addItem(f"{value} (not loaded)", value)
            index = self.combo.count() - 1
        self.combo.setCurrentIndex(index)


class PathEditor(FieldEditor):
    def __init__(self, field: PathField, parent=None):
        super().__init__(field, parent)
        self.line = QLineEdit(field.default)
        self.browse = QToolButton()
        self.browse.setText("…")
        self.browse.setToolTip("Choose a file")
        self.line.textChanged.connect(lambda _t: self.changed.emit())
        self.browse.clicked.connect(self._browse)
        self._layout.addWidget(self.line, 1)
        self._layout.addWidget(self.browse)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.field.label, self.line.text(), self.field.filter)
        if path:
            self.line.setText(path)

    def value(self) -> str:
        return self.line.text()

    def set_value(self, value) -> None:
        self.line.setText(str(value or ""))


class ColorEditor(FieldEditor):
    def __init__(self, field: ColorField, parent=None):
        super().__init__(field, parent)
        self._colour = field.validate(field.default)
        self.button = QPushButton()
        self.button.clicked.connect(self._pick)
        self._layout.addWidget(self.button)
        self._layout.addStretch(1)
        self._show()

    def _show(self) -> None:
        self.button.setText(self._colour)
        text = "#000000" if QColor(self._colour).lightnessF() > 0.5 else "#ffffff"
        self.button.setStyleSheet(f"QPushButton {{ background: {self._colour}; color: {text}; "
                                  "padding: 3px 12px; border-radius: 4px; }")

    def _pick(self) -> None:
        colour = QColorDialog.getColor(QColor(self._colour), self, self.field.label)
        if colour.isValid():
            self.set_value(colour.name())

    def value(self) -> str:
        return self._colour

    def set_value(self, value) -> None:
        value = self.field.validate(value)
        if value != self._colour:
            self._colour = value
            self._show()
            self.changed.emit()


_EDITORS = {FloatField: FloatEditor, IntField: IntEditor, BoolField: BoolEditor, ChoiceField: ChoiceEditor,
            PathField: PathEditor, ColorField: ColorEditor}


def make_editor(field: Field, parent=None, *, info=None, directions=()) -> FieldEditor:
    """The editor for a field, by its type (subclasses of a field type get their base's editor)."""
    if isinstance(field, LayerRangeField):
        return LayerRangeEditor(field, parent, info=info)
    if isinstance(field, DirectionField):
        return DirectionEditor(field, parent, directions=directions)
    for cls in type(field).__mro__:
        if cls in _EDITORS:
            return _EDITORS[cls](field, parent)
    raise TypeError(f"no editor for parameter type {type(field).__name__}")


class PluginForm(QWidget):
    """The generated form for one plugin: a row per parameter, plus Reset and Apply."""
    paramsChanged = Signal(dict)
    applyRequested = Signal(dict)

    def __init__(self, plugin: Plugin, parent=None, *, directions=(), info=None, show_apply: bool = True,
                 hidden=(), show_description: bool = True):
        """hidden: parameter names the host sets itself (no editor; not in values())."""
        super().__init__(parent)
        self.plugin = plugin
        self._updating = False
        self.editors: dict[str, FieldEditor] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        if plugin.description and show_description:
            about = QLabel(plugin.description)
            about.setWordWrap(True)
            about.setObjectName("pluginDescription")
            outer.addWidget(about)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for field in plugin.params:
            if field.name in hidden:
                continue
            editor = make_editor(field, self, info=info, directions=directions)
            editor.setObjectName(f"param_{field.name}")
            guard_wheel(editor)
            editor.changed.connect(self._on_changed)
            label = QLabel(field.label)
            label.setToolTip(field.help)
            form.addRow(label, editor)
            self.editors[field.name] = editor
        outer.addLayout(form)
        if not plugin.params:
            outer.addWidget(QLabel("This edit has no settings."))
        buttons = QHBoxLayout()
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Back to the default settings")
        self.reset_button.clicked.connect(self.reset)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Make a new cell with this edit")
        self.apply_button.setDefault(True)
        self.apply_button.clicked.connect(lambda: self.applyRequested.emit(self.values()))
        self.apply_button.setVisible(show_apply)
        buttons.addStretch(1)
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.apply_button)
        outer.addLayout(buttons)
        outer.addStretch(1)

    def editor(self, name: str) -> FieldEditor:
        return self.editors[name]

    def values(self) -> dict:
        return {name: editor.value() for name, editor in self.editors.items()}

    def set_values(self, values: dict) -> None:
        """Show these parameter values (others keep theirs); emits paramsChanged once."""
        self._updating = True
        try:
            for name, value in values.items():
                if name in self.editors:
                    self.editors[name].set_value(self.plugin.field(name).validate(value))
        finally:
            self._updating = False
        self.paramsChanged.emit(self.values())

    def reset(self) -> None:
        self.set_values({f.name: f.default for f in self.plugin.params if f.name in self.editors})

    def set_directions(self, names) -> None:
        for editor in self.editors.values():
            if isinstance(editor, DirectionEditor):
                editor.set_directions(names)

    def set_info(self, info) -> None:
        """The current model's info (layer-group ranges and the number of layers)."""
        for editor in self.editors.values():
            if isinstance(editor, LayerRangeEditor):
                editor.set_info(info)

    def _on_changed(self) -> None:
        if not self._updating:
            self.paramsChanged.emit(self.values())
