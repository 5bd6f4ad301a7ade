"""Data-parallel training: 2 processes under torchrun (gloo, CPU) learn the same model as 1 process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from dyngen.io.procedural import ripples
from dyngen.io.video import write_video

TOLERANCE = 1e-4  # max |difference| of any weight, latent or Adam moment after 3 epochs
TINY = [
    "--preset", "cpu-action", "--size", "16", "--frames", "6", "--window", "4",
    "--state-dim", "3", "--noise-dim", "3", "--appearance-dim", "2", "--width", "8", "--max-width", "16",
    "--langevin-steps", "2", "--learn-steps", "2", "--checkpoint-every", "1", "--preview-every", "0", "--quiet",
]  # fmt: skip


def _dyngen(tmp_path, processes, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "dyngen"]
    if processes > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
                  "-m", "dyngen"]  # fmt: skip
    done = subprocess.run([*launch, *map(str, args)], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module", params=["exact", "fused"])
def runs(tmp_path_factory, request):
    tmp = tmp_path_factory.mktemp("dist")
    tiny = TINY + (["--fuse-learning"] if request.param == "fused" else [])
    videos = []
    for i in range(3):  # 3 videos: uneven shares (1 and 2) exercise the padded gather
        videos.append(tmp / f"clip{i}.mp4")
        write_video(videos[-1], ripples(6, 16, seed=i), fps=10)
    _dyngen(tmp, 1, "train", *videos, "--out", tmp / "single", "--epochs", "3", *tiny)
    # 2 processes: 2 epochs, then a resume to 3 (the resume path is data-parallel too)
    _dyngen(tmp, 2, "train", *videos, "--out", tmp / "double", "--epochs", "2", *tiny)
    _dyngen(tmp, 2, "train", "--out", tmp / "double", "--resume", "--epochs", "3", "--quiet")
    single, double = (load_file(tmp / name / "checkpoint.safetensors") for name in ("single", "double"))
    return tmp, single, double


@pytest.mark.slow
def test_two_processes_learn_the_same_model_as_one(runs):
    tmp, single, double = runs
    assert single.keys() == double.keys()
    assert single["latents.appearance"].shape == (3, 2)  # every video's chain is gathered into the checkpoint
    worst = {k: float((single[k].double() - double[k].double()).abs().max()) for k in single if k != "rng.state"}
    assert max(worst.values()) < TOLERANCE, sorted(worst.items(), key=lambda kv: -kv[1])[:5]
    assert torch.equal(single["rng.state"], double["rng.state"])  # the same random numbers were drawn
    summary = json.loads((tmp / "double" / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["epochs"] == 3
    a = [json.loads(x)["psnr"] for x in (tmp / "single" / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x)["psnr"] for x in (tmp / "double" / "metrics.jsonl").read_text().splitlines()]
    assert len(a) == len(b) == 3 and max(abs(x - y) for x, y in zip(a, b)) < 1e-3
    assert a[-1] > a[0]  # it learned: the comparison is not between two untrained models


def test_distributed_refuses_a_batch_size():
    from dyngen.algorithms.abptt import TrainConfig
    from dyngen.errors import UsageError
    from dyngen.runs.train import _shard

    with pytest.raises(UsageError, match="torchrun"):
        _shard(4, True, TrainConfig(), torch.device("cpu"))
    assert _shard(4, False, TrainConfig(batch_size=2), torch.device("cpu")).hi == 4
