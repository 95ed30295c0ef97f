"""The one base of every "this file cannot be used" error, whatever kind of file it is.

Each file kind has its own error type (CheckpointError, FaceFileError, DirectionFileError,
TimelineError, PackError); all derive from FileProblem, whose str() is one sentence naming the
file and the problem, so the CLI prints it without a traceback and the window shows it as is.
"""
from __future__ import annotations


class FileProblem(Exception):
    """A file the user gave us cannot be read or used. str(): one user-facing sentence."""
