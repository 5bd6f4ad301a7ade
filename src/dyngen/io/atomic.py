"""Atomic writes: a file appears whole under its name, or not at all.

Every file dyngen writes (checkpoints, configs, videos, plots) goes to a
temporary name beside its target, ``.NAME.tmp-PID[.ext]``, is fsynced and
renamed over the target, and the folder is fsynced. A crash at any moment
leaves the previous file whole; a temporary left by a killed process is
recognised by its name (``TEMPORARY``) and removed on resume.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from dyngen.errors import DyngenError

TEMPORARY = re.compile(r"^\..+\.tmp-(?P<pid>\d+)(\.[A-Za-z0-9]+)?$")  # .NAME.tmp-PID[.ext]


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (best effort: some file systems cannot sync a folder)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_mode() -> int:
    """The mode ``open()`` gives a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def temporary_path(path: Path, suffix: str = "") -> Path:
    """The temporary name ``.NAME.tmp-PID[suffix]`` beside ``path``."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}{suffix}")


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike,
    *,
    what: str = "file",
    suffix: str = "",
    errors: tuple[type[BaseException], ...] = (),
    error: type[DyngenError] = DyngenError,
    durable: bool = True,
) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is fsynced and renamed to ``path``.

    Args:
        path: the target.
        what: how the message names the target ("checkpoint", "video", ...).
        suffix: an extension for the temporary name (some writers choose the format by it).
        errors: exception types of the writer, beyond ``OSError``, that mean "cannot write".
        error: the DyngenError subclass to raise.
        durable: fsync the file and its folder (off for throwaway outputs such as the frames of a PNG folder).

    Raises:
        DyngenError: (``error``) the write failed; the message says why, and that the previous file is unchanged.
    """
    p = Path(path)
    tmp = temporary_path(p, suffix)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, file_mode())  # some writers create 0600; give it the mode of the other files
        os.replace(tmp, p)
        if durable:
            fsync_dir(p.parent)
    except (OSError, *errors) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "strerror", None) or e
        raise error(
            f"{p}: cannot write ({reason}); check the disk has space and the folder is writable. "
            f"The previous {what} is unchanged."
        ) from None
    except BaseException:  # a second Ctrl-C, or the writer's own error: leave no temporary behind
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, what: str = "file") -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, what=what) as tmp:
        tmp.write_bytes(data)
