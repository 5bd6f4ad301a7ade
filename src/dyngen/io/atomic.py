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
import shutil
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


def cannot_write(path: Path, e: BaseException, what: str = "file", *, error: type[DyngenError] = DyngenError):
    """The error for a write that failed: the path, the system's reason, what to check, and that nothing changed."""
    reason = getattr(e, "strerror", None) or e
    return error(
        f"{path}: cannot write ({reason}); check the disk has space and the folder is writable. "
        f"The previous {what} is unchanged."
    )


def make_folder(path: str | os.PathLike, *, error: type[DyngenError] = DyngenError) -> Path:
    """``mkdir -p path``; a folder that cannot be made (read-only, a file in the way) is ``error``, one line."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise error(
            f"{p}: cannot write (cannot create the folder: {e.strerror or e}); check the folder is writable, "
            "or choose another output"
        ) from None
    return p


def nearest_existing(path: str | os.PathLike) -> Path:
    """The nearest folder above ``path`` (absolute) that exists: where a new file under it would go."""
    folder = Path(path).absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_writable(path: str | os.PathLike, *, error: type[DyngenError] = DyngenError) -> Path:
    """Refuse, before any work, an output that cannot be written: its nearest existing folder must be a writable
    folder (a read-only file system, a file where a folder should be). Returns the path."""
    p = Path(path)
    folder = nearest_existing(p)
    if not folder.is_dir():
        raise error(f"{p}: cannot write ({folder} is not a folder); choose another output")
    if not os.access(folder, os.W_OK | os.X_OK):
        reason = "Read-only file system" if _read_only(folder) else "Permission denied"
        raise error(f"{p}: cannot write ({reason}: {folder}); check the folder is writable, or choose another output")
    return p


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _keep_copy(path: Path, keep: Path) -> None:
    """Make ``keep`` a copy of ``path`` (a hard link where the file system allows it), atomically."""
    tmp = temporary_path(keep)
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:
        shutil.copyfile(path, tmp)
    os.replace(tmp, keep)


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
    keep: Path | None = None,
) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is fsynced and renamed to ``path``.

    Args:
        path: the target.
        what: how the message names the target ("checkpoint", "video", ...).
        suffix: an extension for the temporary name (some writers choose the format by it).
        errors: exception types of the writer, beyond ``OSError``, that mean "cannot write".
        error: the DyngenError subclass to raise.
        durable: fsync the file and its folder (off for throwaway outputs such as the frames of a PNG folder).
        keep: where the file now at ``path`` is kept before the new one replaces it (the previous checkpoint);
            at every moment ``path`` holds the old file or the new one.

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
        if keep is not None and p.is_file():
            _keep_copy(p, keep)
        os.replace(tmp, p)
        if durable:
            fsync_dir(p.parent)
    except (OSError, *errors) as e:
        _remove(tmp)
        raise cannot_write(p, e, what, error=error) from None
    except BaseException:  # a second Ctrl-C, or the writer's own error: leave no temporary behind
        _remove(tmp)
        raise


def _remove(path: Path) -> None:
    """Remove a temporary file if it is there (on a read-only file system even that fails: nothing was made)."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, what: str = "file") -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, what=what) as tmp:
        tmp.write_bytes(data)
