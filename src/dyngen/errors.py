"""Exceptions that the CLI turns into one clear line and an exit code.

``DyngenError`` (exit code 1) means the data or the environment is wrong: an
unreadable video, a mask of the wrong shape, a full disk. ``UsageError``
(exit code 2) means the command line asked for something impossible: an
unknown preset, a size the generator cannot make.
"""

from __future__ import annotations


class DyngenError(Exception):
    """A data or environment error. The message says what was wrong and what to do."""

    exit_code = 1


class UsageError(DyngenError):
    """A usage error: an option value that is not allowed."""

    exit_code = 2


class VideoError(DyngenError):
    """A video (or image, or array) that cannot be read or written."""


class RunError(DyngenError):
    """A run directory that is missing, not a run, or not resumable."""


class CorruptFile(RunError):
    """A file of a run (checkpoint, data, latents) that cannot be read or whose checksum does not match."""


class TrainingDiverged(DyngenError):
    """Training produced non-finite values and could not recover."""


class MaskError(DyngenError):
    """A mask that cannot be read, or whose shape does not fit the video."""


class ResourceError(DyngenError):
    """Not enough memory or disk space for the job; the message says what to shrink."""


class Interrupted(DyngenError):
    """Stopped on request (Ctrl-C, SIGTERM) after saving a checkpoint; the run can be resumed.

    The exit code is the shell's for the signal: 130 for Ctrl-C (SIGINT), 143 for SIGTERM.
    """

    def __init__(self, message: str, signum: int = 2) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)


def one_line(text: str, limit: int = 1000) -> str:
    """A message on one line (FFmpeg and PyTorch messages can span several), at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unexpected_message(
    e: BaseException,
    *,
    traceback_hint: str,
    memory_hint: str = "try a smaller --size, fewer --frames or a shorter --window",
) -> str:
    """The one line for an exception that is not a ``DyngenError``: out of memory (with what to shrink), or a bug
    to report."""
    if isinstance(e, MemoryError) or "can't allocate memory" in str(e) or "out of memory" in str(e).lower():
        return f"out of memory; {memory_hint}"
    return (f"unexpected {type(e).__name__}: {one_line(str(e))}; this is a bug in dyngen, please report it "
            f"({traceback_hint})")  # fmt: skip
