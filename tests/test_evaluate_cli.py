"""``dyngen evaluate``: metrics of a synthesized video against the observed one, with the two reference points."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dyngen.cli import main
from dyngen.evaluation import DESCRIPTIONS
from dyngen.evaluation.table import format_table, format_value, json_safe
from dyngen.io.procedural import ripples
from dyngen.io.video import resize, write_video
from dyngen.runs.lds import train_lds


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def observed(tmp_path):
    return write_video(tmp_path / "observed.npy", ripples(16, 16, seed=4))


def test_json_keys_and_the_video_against_itself(tmp_path, observed, capsys):
    assert main(["evaluate", str(observed), str(observed), "--json", "--quiet"]) == 0
    s = _json(capsys)
    assert set(s) == {"synthesized", "observed", "frames", "size", "metrics", "reference"}
    assert set(s["metrics"]) == set(DESCRIPTIONS)
    assert set(s["reference"]) == {"observed vs itself", "static"}
    m = s["metrics"]
    for key in ("appearance_distance", "dynamics_distance", "temporal_spectrum_distance", "copying"):
        assert m[key] == pytest.approx(0.0, abs=1e-9), key
    assert m["motion_ratio"] == pytest.approx(1.0)
    static = s["reference"]["static"]
    assert static["motion_energy"] == 0.0 and static["motion_drift"] is None  # 0/0 is null in JSON
    assert s["frames"] == {"synthesized": 16, "observed": 16} and s["size"] == [16, 16]


def test_table_resize_and_a_frozen_synthesis(tmp_path, observed, capsys):
    clip = ripples(16, 16, seed=4)
    frozen = write_video(tmp_path / "frozen.npy", resize(np.repeat(clip[:1], 10, axis=0), 32))  # 32x32, static
    assert main(["evaluate", str(frozen), str(observed)]) == 0
    out = capsys.readouterr().out
    assert "resized from 32x32" in out and "observed vs itself" in out
    for key in ("dynamics_distance", "motion_drift", "copying"):
        line = next(li for li in out.splitlines() if li.startswith(key))
        assert DESCRIPTIONS[key] in line
    _, synthesized, _, static = next(li for li in out.splitlines() if li.startswith("motion_ratio")).split()[:4]
    assert synthesized == static == "0.000"  # a frozen synthesis scores like the "static" reference


def test_samples_of_a_multi_video_npy_and_a_run_as_observed(tmp_path, capsys):
    clip = ripples(20, 8, seed=0)
    run = train_lds(tmp_path / "lds", torch.from_numpy(clip)[None], names=["rip"], state_dim=4).run.path
    synth = tmp_path / "s.npy"
    argv = ["synthesize", str(run), "--frames", "30", "--num", "2", "--out", str(synth), "--quiet"]
    assert main(argv) == 0
    write_video(tmp_path / "clip.npy", clip)
    scores = []
    for sample, obs in ((0, run), (0, tmp_path / "clip.npy"), (1, run)):
        assert main(["evaluate", str(synth), str(obs), "--sample", str(sample), "--json", "--quiet"]) == 0
        scores.append(_json(capsys)["metrics"])
    assert scores[0] == scores[1]  # the run directory stands for its training video
    assert scores[0] != scores[2]
    assert main(["evaluate", str(synth), str(run), "--sample", "2", "--quiet"]) == 2
    assert "allowed: 0..1" in capsys.readouterr().err


def test_bad_inputs_one_line(tmp_path, observed, capsys):
    assert main(["evaluate", str(tmp_path / "nope.mp4"), str(observed), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file" in err[0]
    assert main(["evaluate", str(observed), str(observed), "--frames", "3", "--quiet"]) == 2
    assert "4 observed frames" in capsys.readouterr().err


def test_format_helpers():
    assert [format_value(v) for v in (math.nan, math.inf, 123.456, 0.12345)] == ["n/a", "inf", "123.5", "0.123"]
    assert json_safe({"a": [1.0, math.nan], "b": {"c": -math.inf}, "d": "x"}) == {"a": [1.0, None], "b": {"c": None},
                                                                                 "d": "x"}  # fmt: skip
    lines = format_table({"x": {k: 1.0 for k in DESCRIPTIONS}}, describe=False)
    assert lines[0].split() == ["metric", "x"] and len(lines) == 8
