"""The one Qt adapter over the session's change events (explorer/session.py has no Qt).

Views connect to these signals, never to the session's callbacks: Qt disconnects a view that is
deleted, so a closed panel is never called back. Every event comes as `changed(kind, data)`.
"""
from __future__ import annotations

import shiboken6
from PySide6.QtCore import QObject, Signal

from explorer.session import Session


class SessionSignals(QObject):
    changed = Signal(str, object)   # kind ('inserted', 'removed', 'page', 'selection', 'matrix',
                                    # 'timeline', 'directions', ...), its data

    def __init__(self, session: Session, parent=None):
        super().__init__(parent)
        self.session = session
        self._unsubscribe = session.subscribe(self._relay)

    def _relay(self, kind: str, data: dict) -> None:
        if shiboken6.isValid(self):
            self.changed.emit(kind, data)

    def detach(self) -> None:
        """Stop relaying (the session is being replaced)."""
        self._unsubscribe()
