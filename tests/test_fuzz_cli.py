"""Random command lines: exit code 0, 1 or 2 and at most one error line; never a traceback or a bug report.

Each command line follows the parser's own grammar (every command, its positionals and options,
so new commands are fuzzed too), with awkward values and paths and now and then a stray word.
Training (and the studio's serving) is replaced by a stub that stops with exit code 0 once the
arguments got that far, so an example never trains for minutes nor serves for ever.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dyngen.cli import _parser, main
from dyngen.errors import DyngenError
from dyngen.io.procedural import ripples
from dyngen.io.video import write_video

NUMBERS = ["-1", "0", "1", "2", "3", "12", "16", "999", "nan", "inf", "-inf", "1e-9", "0.5", "16x16", "0x4"]
VALUES = ["-1", "0", "1", "2", "3", "16", "12", "999", "nan", "inf", "-inf", "1e-9", "0.5", "abc", "", "16x16",
          "0x4", "8x", "cpu", "cuda", "auto", "random", "inferred", "dg", "interp", "lds", "frames:0.5",
          "region:4", "blocks:0", "box:1,1,4,4@0-2", "demo", "cpu", "paper-texture", "nope", "--", "-"]  # fmt: skip


class Reached(DyngenError):
    """Training was about to start: the command line was accepted."""

    exit_code = 0


def _grammar(parser: argparse.ArgumentParser) -> dict[str, dict]:
    """Per command: its positionals, and its options with whether each takes a value and is required."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = {}
    for name, p in sub.choices.items():
        opts = [a for a in p._actions if a.option_strings and a.dest != "help"]
        out[name] = {
            "positionals": [a for a in p._actions if not a.option_strings],
            "options": [(a.option_strings[-1], a.nargs != 0, a.required, a) for a in opts],
        }
    return out


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> list[str]:
    import torch

    d = tmp_path_factory.mktemp("cli fuzz ü")
    clip = write_video(d / "clip ü.npy", ripples(12, 16, seed=1))
    (d / "garbage.mp4").write_text("garbage" * 50)
    (d / "empty.mp4").write_bytes(b"")
    (d / "empty_dir").mkdir()
    (d / "cwd").mkdir()
    np.save(d / "mask.npy", np.zeros((12, 16, 16), bool))
    torch.set_num_threads(1)
    tiny = ["--size", "16", "--frames", "12", "--epochs", "1", "--state-dim", "4", "--noise-dim", "3", "--width", "8",
            "--max-width", "16", "--window", "6", "--langevin-steps", "1", "--learn-steps", "1", "--quiet"]  # fmt: skip
    assert main(["train", str(clip), "--out", str(d / "run"), *tiny]) == 0
    names = ["clip ü.npy", "garbage.mp4", "empty.mp4", "empty_dir", "mask.npy", "run", "nothing.mp4", "out.mp4",
             "out.npy", "out_dir", "out.avi"]  # fmt: skip
    return [str(d / n) for n in names]


GRAMMAR = _grammar(_parser())


def _value_for(action: argparse.Action, anything: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Mostly a value of the option's kind (a choice, a number), sometimes anything."""
    if action.choices:
        typed = st.sampled_from([str(c) for c in action.choices])
    elif action.type is not None:
        typed = st.sampled_from(NUMBERS)
    else:
        return anything
    return st.one_of(typed, typed, typed, anything)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_command_lines_exit_0_1_or_2_without_a_traceback(paths, monkeypatch, data):
    from dyngen.runs import trainer as train_mod

    def reached(self, *args, **kw):
        raise Reached("training would start here")

    monkeypatch.setattr(train_mod.Trainer, "fit", reached)
    monkeypatch.setattr(ThreadingHTTPServer, "serve_forever", reached)  # dyngen studio: up, and not serving
    monkeypatch.chdir(Path(paths[0]).parent / "cwd")  # relative outputs ("0", "dyngen-demo") land there
    value = st.one_of(st.sampled_from(VALUES), st.sampled_from(paths))
    command = data.draw(st.sampled_from(sorted(GRAMMAR)))
    g = GRAMMAR[command]
    argv = [command]
    for pos in g["positionals"]:
        argv += data.draw(st.lists(value, min_size=0 if pos.nargs in ("*", "?") else 1, max_size=2))
    for flag, takes_value, required, action in g["options"]:
        if data.draw(st.floats(0, 1)) < (0.9 if required else 0.15):
            argv += [flag, data.draw(_value_for(action, value))] if takes_value else [flag]
    if data.draw(st.floats(0, 1)) < 0.2:  # and a stray word somewhere
        argv.insert(data.draw(st.integers(0, len(argv))), data.draw(st.sampled_from(["--help", "--nope", *VALUES])))
    err = io.StringIO()
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as e:  # argparse: --help, --version, usage errors
                code = e.code
            except DyngenError as e:
                assert "--debug" in argv, (argv, e)  # --debug shows the traceback instead of the line
                code = e.exit_code
    finally:
        logging.disable(logging.NOTSET)
    text = err.getvalue()
    event(f"{argv[0]}: exit code {code}")  # --hypothesis-show-statistics shows how far the fuzz gets
    assert code in (0, 1, 2), (argv, code, text)
    assert "Traceback" not in text and "bug in dyngen" not in text, (argv, text)
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) <= 1 and (code == 0 or len(errors) == 1 or "--debug" in argv), (argv, code, text)


# ----------------------------------------------------------------------------- the option campaign (tests/campaign.py)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import campaign  # noqa: E402

from dyngen.cli.options import parse_size, path  # noqa: E402


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> campaign.Workspace:
    return campaign.make_workspace(tmp_path_factory.mktemp("campaign") / "w")


@pytest.fixture(scope="module")
def campaign_cases(workspace) -> list[tuple[str, list[str], bool]]:
    return campaign.cases(workspace)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_option_campaign_cases(workspace, campaign_cases, data):
    """A drawn case: every option x NaN, inf, 0, negative, huge, empty, text; every positional emptied.
    ``python tests/campaign.py`` runs all of them."""
    name, argv, must_fail = data.draw(st.sampled_from(campaign_cases))
    event(name.split()[0])
    with campaign.stubs():
        assert campaign.verdict(argv, workspace, must_fail) is None, (name, argv)


def test_damaged_run_files_through_every_command_that_reads_them(workspace, campaign_cases):
    damaged = [c for c in campaign_cases if "damaged" in c[0]]
    assert len(damaged) == 8
    with campaign.stubs():
        for name, argv, must_fail in damaged:
            assert campaign.verdict(argv, workspace, must_fail) is None, name


def test_every_option_value_is_checked_where_it_is_declared():
    """No option parses a bare int or float: each number has a declared range (``dyngen.cli.options.number`` or
    a config field's), each path refuses an empty string."""
    for command, p in campaign.grammar().items():
        for a in p._actions:
            if a.type in (int, float):
                pytest.fail(f"{command} {a.option_strings}: a number without a declared range")
            if a.type not in (None, path, str):
                assert hasattr(a.type, "range"), (command, a.option_strings, a.type)


def allowed(a: argparse.Action) -> str:
    """What an option allows, as its parser checks it."""
    if a.type is path:
        return "a path (not empty)"
    if a.type is parse_size:
        return f"S or HxW, sides {parse_size.range.describe()}"
    if getattr(a.type, "range", None) is not None:
        return a.type.range.describe()
    if a.choices:
        return ", ".join(map(str, a.choices))
    return "any text (checked when used)"


def options_table() -> str:
    """docs/robustness.md's table of every option that takes a value: what it allows, and in which commands."""
    rows: dict[tuple[str, str], list[str]] = {}
    for command, p in campaign.grammar().items():
        for a in p._actions:
            if a.option_strings and a.nargs != 0 and a.help != argparse.SUPPRESS and "--help" not in a.option_strings:
                rows.setdefault((a.option_strings[-1], allowed(a)), []).append(command)
    lines = ["| option | allowed values | commands |", "|---|---|---|"]
    lines += [f"| `{o}` | {v} | {', '.join(c)} |" for (o, v), c in sorted(rows.items())]
    return "\n".join(lines)


def test_the_docs_list_every_option_with_what_it_allows():
    """In a fresh process: other tests register emissions, which would add choices to --emission."""
    import subprocess

    docs = (Path(__file__).resolve().parents[1] / "docs" / "robustness.md").read_text()
    table = subprocess.run([sys.executable, __file__], capture_output=True, text=True, check=True).stdout.strip()
    assert table.startswith("| option |") and table in docs, "regenerate the table: python tests/test_fuzz_cli.py"


if __name__ == "__main__":
    print(options_table())
