"""Errors a checkpoint loader raises: one clear sentence naming the file and what is wrong."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import FileProblem


class CheckpointError(FileProblem):
    """A checkpoint could not be loaded. str() is a complete, user-facing sentence.

    CheckpointError(path, problem) -> "<file name>: <problem>"; CheckpointError(message) also works.
    """

    def __init__(self, path_or_message, problem: str | None = None, *, path=None):
        if problem is None:
            self.path = Path(path) if path is not None else None
            self.problem = str(path_or_message)
        else:
            self.path = Path(os.fspath(path_or_message)) if path_or_message is not None else None
            self.problem = problem
        message = f"{self.path.name}: {self.problem}" if self.path is not None else self.problem
        super().__init__(message)

    def with_path(self, path) -> "CheckpointError":
        """Same error, re-labelled with the file it came from (for errors raised on bytes)."""
        err = type(self)(path, self.problem)
        err.__cause__ = self.__cause__
        return err


class UnsafePickleError(CheckpointError):
    """The pickle asked for a global outside the allow-list; nothing from it was run."""


def read_checkpoint_bytes(path, limit: int | None = None) -> bytes:
    """A checkpoint file's bytes (the first `limit` only, if given); every way the read can fail
    becomes a CheckpointError naming the file."""
    path = Path(os.fspath(path))
    if path.is_dir():
        raise CheckpointError(path, "is a folder, not a checkpoint file")
    try:
        with open(path, "rb") as f:
            return f.read() if limit is None else f.read(limit)
    except FileNotFoundError:
        raise CheckpointError(path, "does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(path, "is a folder, not a checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(path, f"cannot be read ({exc.strerror or exc})") from None
