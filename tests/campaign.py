"""The option campaign: every option of every command, given each hostile value, on an otherwise valid command
line; and the damaged run files, through every command that reads them.

The verdict of a case is always the same: exit code 0 with a correct result (every video written is readable,
finite and not one flat colour), or exit code 1 or 2 with exactly one ``error: ...`` line and no traceback; and
nothing changed on disk that the command line did not ask for (its outputs, and the files named after them).
Training is replaced by a stub that stops once the arguments got that far, and Langevin inference runs at most
two steps, so a case takes a fraction of a second. ``tests/test_fuzz_cli.py`` draws cases with hypothesis;
``python tests/campaign.py [DYNGEN_SRC]`` runs them all and prints the count and the wrong ones (used to count
the cases dyngen 0.1 got wrong).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import hostile
import numpy as np

VALUES = ["nan", "inf", "-inf", "0", "-1", "1e30", str(10**30), "", "abc"]
OUTPUT_DESTS = ("out", "compare", "grid", "grid_video", "reconstruct", "run")  # what a command line asks to write
SKIP = {"--help", "--version", "--debug"}  # --debug shows the traceback on purpose
TINY = ["--size", "16", "--frames", "12", "--epochs", "1", "--state-dim", "4", "--noise-dim", "3", "--width", "8",
        "--max-width", "16", "--window", "6", "--langevin-steps", "1", "--learn-steps", "1", "--quiet"]  # fmt: skip


REACHED: list[bool] = []  # set by the training stub


def _reached_error():
    from dyngen.errors import DyngenError

    class Reached(DyngenError):
        """Training was about to start: the command line was accepted (the stub's exit, code 0)."""

        exit_code = 0

    return Reached


def grammar() -> dict[str, argparse.ArgumentParser]:
    from dyngen.cli import _parser

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def flag(parser: argparse.ArgumentParser, *spellings: str) -> str:
    """The first of ``spellings`` the parser knows (options were renamed between releases)."""
    known = {s for a in parser._actions for s in a.option_strings}
    return next(s for s in spellings if s in known)


@dataclass
class Workspace:
    root: Path
    clip: Path
    still: Path
    run: Path
    arun: Path
    synth: Path


def make_workspace(root: Path) -> Workspace:
    """The inputs: a clip, a still, a trained run, a run with appearance vectors, a synthesized video."""
    import torch

    from dyngen.cli import main
    from dyngen.io.procedural import ripples

    torch.set_num_threads(1)
    root.mkdir(parents=True, exist_ok=True)
    (root / "cwd").mkdir(exist_ok=True)
    (root / "o").mkdir(exist_ok=True)
    clip = root / "clip.npy"
    np.save(clip, ripples(12, 16, seed=1))
    still = root / "still.png"
    from PIL import Image

    Image.fromarray(ripples(1, 16, seed=3)[0]).save(still)
    two = root / "two"
    two.mkdir(exist_ok=True)
    np.save(two / "a.npy", ripples(12, 16, seed=1))
    np.save(two / "b.npy", ripples(12, 16, seed=2))
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert _main(main, ["train", str(clip), "--out", str(root / "run"), *TINY, "--epochs", "2",
                                "--checkpoint-every", "1"]) == 0  # fmt: skip
            assert _main(main, ["train", str(two), "--out", str(root / "arun"), *TINY, "--appearance-dim", "2"]) == 0
            synth = root / "synth.npy"
            assert _main(main, ["synthesize", str(root / "run"), "--frames", "8", "--out", str(synth)]) == 0
    finally:
        logging.disable(logging.NOTSET)
    return Workspace(root, clip, still, root / "run", root / "arun", synth)


def _main(main, argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # dyngen 0.1's main let argparse exit
        return e.code if isinstance(e.code, int) else 2


def base_commands(w: Workspace) -> dict[str, list[str]]:
    """A valid, quick command line per command (outputs in ``w.root / "o"``)."""
    g = grammar()
    o = w.root / "o"
    steps = {c: flag(g[c], "--langevin-steps", "--steps") for c in ("encode", "animate")}
    rec = ["--mask", "frames:0.5", "--method", "interp", *TINY]
    out = {
        "train": ["train", str(w.clip), "--out", str(o / "new_run"), *TINY],
        "synthesize": ["synthesize", str(w.run), "--frames", "4", "--out", str(o / "s.npy")],
        "demo": ["demo", "--out", str(o / "demo"), "--size", "16", "--frames", "12", "--epochs", "1", "--quiet"],
        "recover": ["recover", str(w.clip), "--out", str(o / "rec.npy"), *rec],
        "remove": ["remove", str(w.clip), "--out", str(o / "rem.npy"), *rec],
        "evaluate": ["evaluate", str(w.synth), str(w.clip)],
        "report": ["report", str(w.run), "--out", str(o / "report"), "--frames", "8"],
        "encode": [
            "encode",
            str(w.run),
            str(w.clip),
            "--out",
            str(o / "z.safetensors"),
            "--frames",
            "4",
            steps["encode"],
            "2",
            "--restarts",
            "1",
        ],
        "interpolate": [
            "interpolate",
            str(w.arun),
            "--between",
            "0",
            "1",
            flag(g["interpolate"], "--rows", "--steps"),
            "2",
            "--frames",
            "4",
            "--spacing",
            "uniform",
            "--out",
            str(o / "i.npy"),
        ],
        "animate": [
            "animate",
            str(w.arun),
            str(w.still),
            "--frames",
            "4",
            "--out",
            str(o / "a.npy"),
            steps["animate"],
            "2",
            "--restarts",
            "1",
        ],
        "presets": ["presets"],
    }
    return {k: v for k, v in out.items() if k in g}


def _with(argv: list[str], option: str, value: str) -> list[str]:
    """``argv`` with ``option`` set to ``value`` (replaced where it is given, else added)."""
    if option in argv:
        i = argv.index(option)
        return [*argv[: i + 1], value, *argv[i + 2 :]]
    return [*argv, option, value]


def cases(w: Workspace) -> list[tuple[str, list[str], bool]]:
    """``(name, argv, must_fail)`` of every case: each option x each value, each positional emptied, each
    damaged file (``must_fail``: exit code 0 is wrong whatever was written)."""
    g, base = grammar(), base_commands(w)
    out = []
    for cmd, argv in base.items():
        for a in g[cmd]._actions:
            if not a.option_strings or a.nargs == 0 or set(a.option_strings) & SKIP:
                continue
            opt = a.option_strings[-1]
            for v in VALUES:
                out.append((f"{cmd} {opt} {v!r}", _with(argv, opt, v), False))
        positionals = [a for a in g[cmd]._actions if not a.option_strings]
        for i, pos in enumerate(positionals):
            index = 1 + i
            if index < len(argv) and not argv[index].startswith("-"):
                out.append((f"{cmd} <{pos.dest}> ''", [*argv[:index], "", *argv[index + 1 :]], False))
    damaged = {}
    for name in ("checkpoint.safetensors", "data.safetensors"):
        d = w.root / f"damaged_{name.split('.')[0]}"
        if not d.exists():
            shutil.copytree(w.run, d)
            hostile.damage_tensors(d / name)
            (d / "checkpoint.prev.safetensors").unlink(missing_ok=True)
        damaged[name] = d
    o = w.root / "o"
    for name, d in damaged.items():
        out += [
            (
                f"synthesize, damaged {name}",
                ["synthesize", str(d), "--frames", "4", "--out", str(o / "s.npy"), "--compare", str(o / "c.mp4")],
                True,
            ),
            (
                f"train --resume, damaged {name}",
                ["train", "--out", str(d), "--resume", "--epochs", "3", "--quiet"],
                True,
            ),
            (f"report, damaged {name}", ["report", str(d), "--out", str(o / "report"), "--frames", "8"], True),
            (f"evaluate against a run, damaged {name}", ["evaluate", str(w.synth), str(d)], name.startswith("data")),
        ]
    return out


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.stat()
            out[str(p)] = (st.st_size, st.st_mtime_ns if p.is_file() else 0)
    return out


def _allowed(argv: list[str], cwd: Path) -> list[str]:
    """Path prefixes a command line asks to write: its output options, and the names made from them."""
    g = grammar().get(argv[0])
    if g is None:
        return []
    dests = {s: a.dest for a in g._actions for s in a.option_strings}
    out = []
    for i, word in enumerate(argv[:-1]):
        if dests.get(word) in OUTPUT_DESTS and argv[i + 1]:
            p = Path(argv[i + 1])
            p = p if p.is_absolute() else cwd / p
            out.append(str(p.with_suffix("")) if p.suffix else str(p))
    return out


def _check_outputs(paths: list[str]) -> str | None:
    """None when every written video is readable, finite and not flat; else what is wrong."""
    from dyngen.io.video import read_video

    for p in map(Path, paths):
        if not p.is_file() or p.suffix.lower() not in (".npy", ".mp4", ".gif") or p.name.startswith("."):
            continue
        try:
            a = np.load(p) if p.suffix == ".npy" else read_video(p)
        except Exception as e:  # noqa: BLE001 - an unreadable output is a wrong result
            return f"{p.name} cannot be read back ({e})"
        if a.dtype != np.uint8:
            return f"{p.name} is {a.dtype}, not uint8"
        if a.size and a.max() == a.min():
            return f"{p.name} is one flat value ({a.max()}): a wrong result"
    return None


def verdict(argv: list[str], w: Workspace, must_fail: bool = False) -> str | None:
    """Run one case; None when it behaved, else what was wrong."""
    from dyngen.cli import main

    cwd = w.root / "cwd"
    before = _snapshot(w.root)
    err = io.StringIO()
    REACHED.clear()
    logging.disable(logging.WARNING)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = _main(main, argv)
    finally:
        os.chdir(old)
        logging.disable(logging.NOTSET)
    text = err.getvalue()
    after = _snapshot(w.root)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p) and not p.endswith("/.lock"))
    allowed = _allowed(argv, cwd)
    stray = [p for p in changed if not any(p.startswith(a) for a in allowed)]
    problem = None
    if must_fail and code == 0:
        problem = "exit 0 on a damaged file"
    elif code not in (0, 1, 2):
        problem = f"exit code {code}"
    elif "Traceback" in text or "bug in dyngen" in text:
        problem = "a traceback or the bug line: " + (text.strip().splitlines() or [""])[-1][:300]
    elif code != 0 and len([x for x in text.splitlines() if x.startswith("error: ")]) != 1:
        problem = f"exit {code} without exactly one error line: {text.strip()[:300]!r}"
    elif code != 0 and changed:
        problem = f"exit {code} but changed {[Path(p).name for p in changed][:5]}"
    elif stray:
        problem = f"changed what was not asked for: {[Path(p).name for p in stray][:5]}"
    elif code == 0 and not REACHED:
        problem = _check_outputs([p for p in changed if p in after])
    for p in changed:  # put the workspace back for the next case
        if p not in before and Path(p).exists() and not any(p.startswith(q + "/") for q in changed if q != p):
            shutil.rmtree(p) if Path(p).is_dir() else Path(p).unlink()
    return problem


@contextlib.contextmanager
def stubs():
    """Training stops where it would start; Langevin inference runs at most 2 steps."""
    from dyngen.algorithms import inference
    from dyngen.runs import trainer

    fit, temperatures = trainer.Trainer.fit, inference.temperatures
    error = _reached_error()

    def reached(self, *args, **kw):
        REACHED.append(True)
        raise error("training would start here")

    trainer.Trainer.fit = reached
    inference.temperatures = lambda steps, *a, **kw: temperatures(min(steps, 2), *a, **kw)
    try:
        yield
    finally:
        trainer.Trainer.fit, inference.temperatures = fit, temperatures


if __name__ == "__main__":
    import tempfile

    if len(sys.argv) > 1:
        sys.path.insert(0, sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        w = make_workspace(Path(tmp) / "w")
        all_cases = cases(w)
        wrong = []
        with stubs():
            for name, argv, must_fail in all_cases:
                problem = verdict(argv, w, must_fail)
                if problem:
                    wrong.append((name, problem))
                    print(f"WRONG {name}: {problem}", flush=True)
        print(f"{len(all_cases)} cases, {len(wrong)} wrong")
