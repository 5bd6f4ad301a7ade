"""The studio's workspace: the one folder it reads and writes, and the rules for every path that reaches it.

    WORKSPACE/
      uploads/    clips, stills and masks the browser sent (and the demo texture)
      runs/       run directories, the same as ``dyngen train --out`` makes: either tool opens the other's
      outputs/    one folder per job: videos (mp4 + gif), masks, reports
      cache/      previews of clips for the page

A path from the browser is a string relative to the workspace. ``resolve`` joins it, resolves every ``..``
and symbolic link, and refuses it unless it lands inside the folder it must be in, so no request reaches a
file outside. Uploads are kept only when their extension is a video, image or mask one and dyngen can read
them; their names are reduced to letters, digits, ``.``, ``-`` and ``_``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from dyngen.errors import DyngenError, UsageError
from dyngen.io.dataset import VIDEO_EXTS
from dyngen.io.decode import IMAGE_EXTS

log = logging.getLogger(__name__)
FOLDERS = ("uploads", "runs", "outputs", "cache")
MASK_EXTS = (".mat", ".npy")
UPLOAD_EXTS = tuple(sorted(set(VIDEO_EXTS) | set(IMAGE_EXTS) | set(MASK_EXTS)))
CHUNK = 1 << 20


class StudioError(UsageError):
    """A request the studio refuses; its message is shown in the page."""


def safe_name(name: str, *, default: str = "file") -> str:
    """A file or run name of letters, digits, ``.``, ``-`` and ``_`` only, not starting with a dot."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(str(name))).lstrip("._")
    return base[:100] or default


class Workspace:
    """The studio's folder (created with its subfolders if needed)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()
        try:
            for folder in FOLDERS:
                (self.root / folder).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StudioError(f"{root}: cannot be the studio's workspace ({e.strerror or e}); choose another "
                              "--workspace") from None  # fmt: skip

    def resolve(self, rel: Any, *, under: str | None = None, must_exist: bool = True) -> Path:
        """The path ``rel`` (relative to the workspace) as an absolute path inside ``under`` (a subfolder).

        Raises:
            StudioError: ``rel`` is not a string, leaves the folder (``..``, an absolute path, a link that
                points out), is the folder itself, or (with ``must_exist``) does not exist.
        """
        if not isinstance(rel, str) or not rel.strip() or "\x00" in rel:
            raise StudioError(f"{rel!r}: not a path in the workspace")
        base = self.root / under if under else self.root
        p = (self.root / rel).resolve()
        if p == base or not p.is_relative_to(base):
            raise StudioError(f"{rel}: outside the workspace" + (f"'s {under}/ folder" if under else ""))
        if must_exist and not p.exists():
            raise StudioError(f"{rel}: no such file in the workspace")
        return p

    def rel(self, path: Path) -> str:
        """``path`` relative to the workspace, with forward slashes (what the page uses)."""
        return Path(path).resolve().relative_to(self.root).as_posix()

    def unique(self, folder: str, name: str) -> Path:
        """``folder/name``, or ``folder/stem-2.ext`` and so on where that exists."""
        name = safe_name(name)
        stem, ext = os.path.splitext(name)
        p, n = self.root / folder / name, 2
        while p.exists():
            p, n = self.root / folder / f"{stem}-{n}{ext}", n + 1
        return p

    # --------------------------------------------------------------------------------------------- uploads

    def check_upload(self, filename: str, length: int, *, limit: int) -> None:
        """Refuse (StudioError) an upload whose extension is not a video, image or mask one, or too large."""
        ext = os.path.splitext(str(filename))[1].lower()
        if ext not in UPLOAD_EXTS:
            allowed = ", ".join(UPLOAD_EXTS)
            raise StudioError(f"'{safe_name(filename)}' is not a video, image or mask; allowed: {allowed}")
        if length > limit:
            raise StudioError(f"the upload is {length / 2**20:.1f} MB; this studio takes at most {limit / 2**20:.0f} "
                              "MB (dyngen studio --max-upload-mb)")  # fmt: skip

    def store_upload(self, filename: str, body: BinaryIO, length: int, *, limit: int) -> dict[str, Any]:
        """Write an upload of ``length`` bytes into ``uploads/``, keep it only if dyngen can read it.

        Raises:
            StudioError: ``check_upload``'s refusals, or a file that is not a readable video, image or mask (the
                partial file is removed).
        """
        self.check_upload(filename, length, limit=limit)
        target = self.unique("uploads", filename)
        partial = target.with_name(".partial-" + target.name)  # hidden, with the real extension
        try:
            with open(partial, "wb") as f:
                left = length
                while left > 0:
                    chunk = body.read(min(CHUNK, left))
                    if not chunk:
                        raise StudioError(f"the upload ended after {length - left} of {length} bytes")
                    f.write(chunk)
                    left -= len(chunk)
            info = self.describe(partial, name=target.name)
            partial.rename(target)
        finally:
            partial.unlink(missing_ok=True)
        return {**info, "path": self.rel(target)}

    def describe(self, path: Path, *, name: str | None = None) -> dict[str, Any]:
        """What an upload is: ``{"name", "kind": video | image | mask, "frames", "height", "width"}``.

        Raises:
            StudioError: dyngen reads it neither as a video or image nor as a mask.
        """
        from dyngen.io.masks import load_mask
        from dyngen.io.video import read_video

        name = name or path.name
        ext = os.path.splitext(name)[1].lower()
        problems = []
        if ext != ".mat" and not (ext == ".npy" and _is_mask_array(path)):
            try:
                first = read_video(path, frames=1)
                kind = "image" if ext in IMAGE_EXTS else "video"
                return {"name": name, "kind": kind, "height": int(first.shape[1]), "width": int(first.shape[2])}
            except DyngenError as e:
                problems.append(str(e))
        if ext in MASK_EXTS:
            try:
                m = load_mask(path)
                return {"name": name, "kind": "mask", "frames": int(m.shape[0]), "height": int(m.shape[1]),
                        "width": int(m.shape[2])}  # fmt: skip
            except (DyngenError, ValueError) as e:
                problems.append(str(e))
        reason = "; ".join(p.replace(str(path), name) for p in problems)
        raise StudioError(f"'{name}' is not a video, image or mask dyngen can read: {reason}")

    def write_demo(self, *, frames: int = 60, size: int = 64, seed: int = 0) -> dict[str, Any]:
        """The embedded demo texture (``dyngen.ripples``) as ``uploads/ripples-seedN.npy`` (made once)."""
        from dyngen.io.procedural import ripples
        from dyngen.io.video import write_video

        path = self.root / "uploads" / f"ripples-seed{seed}.npy"
        if not path.is_file():
            write_video(path, ripples(frames, size, seed=seed))
        return {**self.describe(path), "path": self.rel(path)}

    def uploads(self) -> list[dict[str, Any]]:
        """Every readable upload, by name (unreadable ones are skipped)."""
        out = []
        for p in sorted((self.root / "uploads").iterdir()):
            if p.is_file() and not p.name.startswith("."):
                try:
                    out.append({**self._cached_description(p), "path": self.rel(p)})
                except StudioError as e:
                    log.info("skipping %s: %s", p.name, e)
        return out

    def _cached_description(self, p: Path) -> dict[str, Any]:
        key = self.root / "cache" / f"{p.name}.{p.stat().st_mtime_ns}.json"
        if key.is_file():
            return json.loads(key.read_text())
        info = self.describe(p)
        key.write_text(json.dumps(info))
        return info

    # --------------------------------------------------------------------------------------------- runs

    def runs(self) -> list[dict[str, Any]]:
        """Every run directory under ``runs/`` (made here or by the CLI): its facts for the page."""
        return [info for p in sorted((self.root / "runs").iterdir()) if (info := self.run_info(p))]

    def run_info(self, path: Path) -> dict[str, Any] | None:
        from dyngen.runs.directory import Run

        if not (path / "config.json").is_file():
            return None
        try:
            run = Run.open(path)
            cfg = run.read_config()
            metrics = run.read_metrics()
        except (DyngenError, OSError, ValueError) as e:
            return {"path": self.rel(path), "name": path.name, "error": str(e)}
        summary = run.read_summary() if (path / "summary.json").is_file() else {}
        previews = sorted((path / "previews").glob("epoch_*.png")) if (path / "previews").is_dir() else []
        return {
            "path": self.rel(path),
            "name": path.name,
            "model_type": cfg.get("model_type", "dg"),
            "names": cfg.get("data", {}).get("names", []),
            "size": cfg.get("data", {}).get("size"),
            "frames": cfg.get("data", {}).get("frames"),
            "appearance_dim": cfg.get("model", {}).get("appearance_dim", 0),
            "epochs": cfg.get("train", {}).get("epochs"),
            "epoch": metrics[-1]["epoch"] if metrics else 0,
            "psnr": summary.get("psnr", metrics[-1]["psnr"] if metrics else None),
            "preview": self.rel(previews[-1]) if previews else None,
            "loss_curve": self.rel(path / "loss.png") if (path / "loss.png").is_file() else None,
        }


def _is_mask_array(path: Path) -> bool:
    """An ``.npy`` that holds a mask ``(T, H, W)`` (or bool values), not frames ``(T, H, W, 3)``."""
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return False
    return a.dtype == bool or a.ndim == 3
