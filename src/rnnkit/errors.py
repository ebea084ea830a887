"""Every error type rnnkit raises on purpose, in one module that any floor may import.

All derive from :class:`RnnkitError`, so ``except RnnkitError`` catches exactly the problems
rnnkit recognised and explained; each also derives from the built-in type a caller would
expect (``ValueError`` for bad files and data, ``RuntimeError`` for a failed run).
"""
from __future__ import annotations


class RnnkitError(Exception):
    """Base of the errors below: a problem rnnkit recognised, with a message saying what."""


class UsageError(RnnkitError):
    """A problem with the user's input (a file, an option, the data): one line, exit status 2."""


class TrainingError(RnnkitError, RuntimeError):
    """The run cannot go on (e.g. the loss became NaN); the message says what happened."""


class CheckpointError(RnnkitError, ValueError):
    """A checkpoint file that cannot be used, with the reason."""


class TsFileError(RnnkitError, ValueError):
    """A .ts file that cannot be read, with the line where the problem is."""


class OnnxExportError(RnnkitError, ValueError):
    """A model or an option that the ONNX export cannot handle, with the reason."""
