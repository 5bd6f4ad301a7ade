"""``dyngen report``: a self-contained HTML page from a tiny run, with an LDS run beside it."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pytest
import torch
from conftest import tiny_configs
from PIL import Image

from dyngen.cli import main
from dyngen.errors import DyngenError, UsageError
from dyngen.runs.lds import train_lds
from dyngen.runs.train import train
from dyngen.tasks.report import build_report


@pytest.fixture
def runs(tmp_path, clip):
    mc, tc = tiny_configs(epochs=2)
    train(tmp_path / "dg", clip[None], names=["clip"], model_config=mc, train_config=tc, device="cpu")
    train_lds(tmp_path / "lds", torch.from_numpy(clip)[None], names=["clip"], state_dim=4)
    return tmp_path / "dg", tmp_path / "lds"


def _references(index) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', index.read_text())


def test_report_of_a_run_with_an_lds_beside_it(tmp_path, runs, clip):
    dg, lds = runs
    report = build_report(dg, tmp_path / "rep", lds=lds, seed=0)
    moved = tmp_path / "elsewhere" / "report.html"  # handed on alone: it needs no file beside it
    moved.parent.mkdir()
    shutil.copy(report.index, moved)
    page = moved.read_text()
    refs = _references(moved)
    assert len(refs) == 6 and all(r.startswith(("data:image/png;base64,", "data:image/webp;base64,")) for r in refs)
    titles = re.findall(r'title="([^"]+)"', page)
    assert titles == ["side_by_side.webp", "frames.png", "frames_end.png", "motion.png", "spectrum.png", "loss.png"]
    for ref, name in zip(refs, titles):
        assert base64.b64decode(ref.split(",", 1)[1]) == (report.index.parent / name).read_bytes()
    assert "http" not in page and "<script" not in page  # nothing fetched, nothing run
    with Image.open(report.index.parent / "side_by_side.webp") as im:  # large, labelled, animated
        assert im.n_frames == 48 and im.size[1] > 256 and im.info.get("loop") == 0
    verdict = re.findall(r'<p class="verdict"><b>(\w+)</b> closest to the clip on ([^<]+)</p>', page)
    assert [m for m, _ in verdict] == ["dg", "lds"] and all("of 6)" in v for _, v in verdict)
    assert list(report.table) == ["dg", "lds", "observed vs itself", "static"]
    assert {k: v.shape for k, v in report.videos.items()} == {"dg": (48, 16, 16, 3), "lds": (48, 16, 16, 3)}
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert metrics["static"]["motion_energy"] == 0.0 and metrics["static"]["motion_drift"] is None
    assert metrics["lds"]["dynamics_distance"] == pytest.approx(report.table["lds"]["dynamics_distance"])
    # The same seed gives the same report; an earlier report folder may be rewritten.
    again = build_report(dg, tmp_path / "rep", lds=lds, seed=0)
    assert all(np.array_equal(again.videos[k], v) for k, v in report.videos.items())


def test_cli_report_of_an_lds_run_against_another_video(tmp_path, runs, clip, capsys):
    _, lds = runs
    against = tmp_path / "against.npy"
    np.save(against, clip[::-1].copy())
    argv = ["report", str(lds), "--out", str(tmp_path / "rep"), "--against", str(against), "--frames", "20"]
    assert main([*argv, "--json", "--quiet"]) == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    index = tmp_path / "rep" / "index.html"
    assert s["report"] == str(index) and set(s["metrics"]) == {"lds", "observed vs itself", "static"}
    assert "closed-form" in index.read_text() and 'title="loss.png"' not in index.read_text()
    assert all(ref.startswith("data:image/") for ref in _references(index))  # embedded, nothing beside it


def test_refuses_a_foreign_folder_and_mismatched_sizes(tmp_path, runs, clip):
    dg, _ = runs
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not an empty folder or an earlier report"):
        build_report(dg, tmp_path / "busy")
    other = train_lds(tmp_path / "small", torch.from_numpy(clip[:, :8, :8].copy())[None], names=["c"], state_dim=2)
    with pytest.raises(DyngenError, match="frames of"):
        build_report(dg, tmp_path / "rep", lds=other.run.path)


def test_report_of_a_missing_run_writes_nothing(tmp_path):
    from dyngen.cli import main

    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "no-such-run"), "--out", str(out), "--quiet"]) == 1
    assert not out.exists()
