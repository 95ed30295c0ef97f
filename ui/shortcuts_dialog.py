"""Help > Keyboard Shortcuts: every shortcut of the window in one searchable table.

Rows come from the window's actions (so they never drift from what the keys do) plus the keys
that are not actions: drop modifiers, label-mode P / N, Ctrl+wheel."""
from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QKeySequence, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QDialog, QHeaderView, QLineEdit, QTableView, QVBoxLayout

EXTRA_KEYS = [
    ("Mix coarse / medium / fine styles", "Drop with Shift / Ctrl / Alt", "Grid"),
    ("Mix the last layers again", "Drop with Ctrl+Shift", "Grid"),
    ("Mark the selected faces positive / negative", "P / N (label mode on)", "Directions"),
    ("Thumbnail size", "Ctrl+wheel", "Grid"),
    ("Remove the selected keyframe", "Delete (on the timeline)", "Timeline"),
]


def shortcut_rows(actions) -> list[tuple[str, str, str]]:
    """(what it does, keys, where) for every action with a shortcut, then the other keys."""
    rows, seen = [], set()
    for act in actions:
        keys = ", ".join(k.toString(QKeySequence.NativeText) for k in act.shortcuts())
        name = act.text().replace("&", "")
        if keys and name and (name, keys) not in seen:
            seen.add((name, keys))
            where = "Grid" if act.shortcutContext() == Qt.WidgetWithChildrenShortcut else "Window"
            rows.append((name, keys, where))
    return sorted(rows, key=lambda r: r[0].lower()) + list(EXTRA_KEYS)


class ShortcutsDialog(QDialog):
    def __init__(self, actions, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.resize(560, 520)
        self.model = QStandardItemModel(0, 3, self)
        self.model.setHorizontalHeaderLabels(["Action", "Keys", "Where"])
        for row in shortcut_rows(actions):
            items = [QStandardItem(text) for text in row]
            for it in items:
                it.setEditable(False)
            self.model.appendRow(items)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)            # search actions and keys alike
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search: an action or a key (e.g. mix, Ctrl+3)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableView.SelectRows)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.AscendingOrder)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        lay = QVBoxLayout(self)
        lay.addWidget(self.search)
        lay.addWidget(self.table)

    def visible_rows(self) -> list[tuple[str, str, str]]:
        return [tuple(self.proxy.index(r, c).data() for c in range(3)) for r in range(self.proxy.rowCount())]
