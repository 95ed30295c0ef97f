"""The plugin list: every plugin the registry knows, where it came from, whether it works, and a
switch to turn it off. Follows the registry through `on_change`, from any thread."""
from __future__ import annotations

from functools import partial

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from explorer.plugins import PluginRecord, PluginRegistry

COL_NAME, COL_SOURCE, COL_STATUS = range(3)
ID_ROLE = Qt.ItemDataRole.UserRole
PROBLEM_COLOUR = QColor("#e06c75")   # failed / disabled (theme.ERROR)
QUIET_COLOUR = QColor("#9a9ca5")     # not loaded yet (theme.TEXT_DIM)


def _detach(listeners: list, callback) -> None:
    try:
        listeners.remove(callback)
    except ValueError:
        pass


class PluginListWidget(QWidget):
    """A QTreeWidget of PluginRecords; the check box in the first column calls registry.set_enabled."""
    pluginToggled = Signal(str, bool)
    pluginActivated = Signal(str)     # double-clicked: open its form
    _recordChanged = Signal(object)   # relays registry.on_change onto the GUI thread (queued if needed)

    def __init__(self, registry: PluginRegistry, parent=None):
        super().__init__(parent)
        self.registry = registry
        self._refreshing = False
        self._items: dict[str, QTreeWidgetItem] = {}
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Plugin", "Source", "Status"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_SOURCE, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        self.tree.itemChanged.connect(self._item_changed)
        self.tree.itemDoubleClicked.connect(
            lambda item, _col: self.pluginActivated.emit(item.data(COL_NAME, ID_ROLE)))
        self.tree.setToolTip("Double-click a plugin to open its form in the inspector")
        self._recordChanged.connect(self._update_record)
        relay = self._recordChanged.emit
        registry.on_change.append(relay)
        self.destroyed.connect(partial(_detach, registry.on_change, relay))
        self.refresh()

    # ----- view ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Rebuild the list from registry.records() (after discover, for instance)."""
        self._refreshing = True
        try:
            self.tree.clear()
            self._items.clear()
            for rec in self.registry.records():
                item = QTreeWidgetItem()
                item.setData(COL_NAME, ID_ROLE, rec.id)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable)
                self._fill(item, rec)
                self.tree.addTopLevelItem(item)
                self._items[rec.id] = item
        finally:
            self._refreshing = False

    def item(self, plugin_id: str) -> QTreeWidgetItem:
        return self._items[plugin_id]

    def _fill(self, item: QTreeWidgetItem, rec: PluginRecord) -> None:
        item.setText(COL_NAME, rec.name)
        item.setCheckState(COL_NAME, Qt.CheckState.Checked if rec.enabled else Qt.CheckState.Unchecked)
        plugin = rec.plugin
        about = [rec.id]
        if plugin is not None:
            about.append(f"version {plugin.version}, {plugin.kind.value} edit, {plugin.describe_inputs()}")
            if plugin.description:
                about.append(plugin.description)
        item.setToolTip(COL_NAME, "\n".join(about))
        item.setText(COL_SOURCE, rec.source)
        item.setToolTip(COL_SOURCE, rec.source)
        status = rec.status if rec.enabled or rec.status in ("failed", "disabled") else f"{rec.status}, off"
        item.setText(COL_STATUS, status)
        item.setToolTip(COL_STATUS, rec.error or "")
        if rec.status in ("failed", "disabled"):
            item.setForeground(COL_STATUS, QBrush(PROBLEM_COLOUR))
        elif rec.status == "not loaded":
            item.setForeground(COL_STATUS, QBrush(QUIET_COLOUR))
        else:
            item.setForeground(COL_STATUS, QBrush())

    def _update_record(self, rec: PluginRecord) -> None:
        item = self._items.get(rec.id)
        if item is None:
            self.refresh()
            return
        self._refreshing = True
        try:
            self._fill(item, rec)
        finally:
            self._refreshing = False

    # ----- user switches ------------------------------------------------------------------------
    def _item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._refreshing or column != COL_NAME:
            return
        plugin_id = item.data(COL_NAME, ID_ROLE)
        enabled = item.checkState(COL_NAME) == Qt.CheckState.Checked
        self.registry.set_enabled(plugin_id, enabled)
        self._update_record(self.registry.record(plugin_id))   # e.g. a failed plugin re-armed
        self.pluginToggled.emit(plugin_id, enabled)
