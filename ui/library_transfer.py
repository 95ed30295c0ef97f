"""The library's long jobs off the GUI thread: export (recipe PNGs rendered at a size, in a folder
or a zip), contact sheets, and imports of collections. One job at a time with progress and
Cancel in the status bar (the same strip as image edits); each job opens its own connection to
the library (SQLite connections stay on one thread)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Signal

from explorer.library import Library, LibraryError
from explorer.library.transfer import contact_sheet, export_faces, import_faces, render_with

from .tasks import TaskQueue


class Cancelled(Exception):
    pass


@dataclass
class TransferJob:
    kind: str                       # 'export', 'sheet' or 'import'
    label: str
    ids: list = field(default_factory=list)
    path: str = ""
    name: str = ""
    size: int | None = None
    model: object = None            # the Generator that renders faces of its model
    model_path: str = ""
    cancelled: bool = False


class LibraryTransfers(TaskQueue):
    finished = Signal(str, str)     # a sentence for the user, level
    imported = Signal(list)         # library ids an import brought

    def __init__(self, library_path, parent=None):
        super().__init__(parent, name="library transfers")
        self.library_path = library_path

    def run_job(self, job: TransferJob):
        self.emit(self.started, job.label)

        def progress(f: float) -> None:
            if self.stopping(job):
                raise Cancelled()
            self.emit(self.progress, float(f))

        lib = Library(self.library_path)
        try:
            if job.kind == "export":
                render = render_with(job.model, job.size) if job.model is not None else None
                paths = export_faces(lib, job.ids, job.path, name=job.name, render=render, progress=progress)
                return f"Exported {len(paths)} face{'s' if len(paths) != 1 else ''} to {job.path}, recipes inside."
            if job.kind == "sheet":
                progress(0.0)
                out = contact_sheet(lib, job.ids, job.path, title=job.name)
                return f"Contact sheet of {len(job.ids)} faces: {out}."
            if job.kind == "import":
                ids, problems = import_faces(lib, job.path, model=job.model, model_path=job.model_path,
                                             progress=progress)
                text = f"Imported {len(ids)} face{'s' if len(ids) != 1 else ''} from {Path(job.path).name}."
                if problems:
                    text += f" {len(problems)} could not be read: {problems[0]}"
                return (text, ids)
            raise ValueError(f"unknown library job {job.kind!r}")
        finally:
            lib.close()

    def deliver(self, job: TransferJob, result, error) -> None:
        if isinstance(error, Cancelled):
            self.finished.emit(f"{job.label}: cancelled.", "info")
        elif error is not None:
            text = str(error) if isinstance(error, (LibraryError, OSError, ValueError)) else repr(error)
            self.finished.emit(f"{job.label} failed: {text}", "error")
        elif job.kind == "import":
            text, ids = result
            self.finished.emit(text, "info")
            self.imported.emit(list(ids))
        else:
            self.finished.emit(result, "info")
