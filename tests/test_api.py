"""The public verbs of ``import dyngen``, end to end on tiny models: each is the layers' result, by path or object."""

import numpy as np
import pytest
import torch

import dyngen
from dyngen.io.video import to_tensor, to_uint8

TINY = {"state_dim": 4, "noise_dim": 3, "base_channels": 8, "max_channels": 16, "window": 6, "langevin_steps": 1,
        "learn_steps": 2, "preview_every": 0, "transition_hidden": 8}  # fmt: skip


@pytest.fixture
def clips():
    return np.stack([dyngen.ripples(frames=12, size=16, seed=s) for s in (1, 2)])


def test_train_synthesize_load_evaluate(tmp_path, clips):
    run = dyngen.train(tmp_path / "run", clips[0], preset="demo", epochs=3, device="cpu", **TINY)
    assert run.names == ["video"] and run.summary["epochs"] == 3
    by_object = dyngen.synthesize(run, frames=30, seed=4)
    by_path = dyngen.synthesize(tmp_path / "run", frames=30, seed=4, device="cpu")
    assert by_object.shape == (1, 30, 3, 16, 16) and torch.equal(by_object, by_path)
    assert dyngen.load(tmp_path / "run").epoch == 3
    scores = dyngen.evaluate(by_object[0], clips[0])
    assert scores["motion_energy"] > 0 and scores["appearance_distance"] > 0
    more = dyngen.resume(tmp_path / "run", epochs=4, device="cpu")
    assert more.epoch == 4


def test_recover_and_remove_keep_the_observed_pixels(tmp_path, clips):
    missing = torch.zeros(12, 16, 16, dtype=torch.bool)
    missing[:, 4:9, 4:9] = True
    seen = ~missing.numpy()
    for verb in (dyngen.recover, dyngen.remove):
        res = verb(clips[0], missing, run_dir=tmp_path / verb.__name__, epochs=2, device="cpu", **TINY)
        assert np.array_equal(to_uint8(res.recovered)[seen], clips[0][seen]) and res.run is not None
    interp = dyngen.recover(to_tensor(clips[0]), missing, method="interp")
    assert interp.run is None and torch.equal(interp.recovered[:, :, 0, 0], to_tensor(clips[0])[:, :, 0, 0])


def test_appearance_verbs(tmp_path, clips):
    run = dyngen.train(tmp_path / "run", clips, preset="cpu-action", names=["a", "b"], epochs=2, device="cpu",
                       appearance_dim=3, **TINY)  # fmt: skip
    enc = dyngen.encode(run, clips[1], steps=4, restarts=1)
    assert enc.appearance.shape == (1, 3) and enc.noise.shape == (1, 12, 3)
    anim = dyngen.animate(run, clips[0][0], frames=5, steps=4, restarts=1)
    assert anim.videos.shape == (1, 5, 3, 16, 16)
    rows = dyngen.interpolate(run, "a", "b", steps=3, frames=4)
    assert rows.videos.shape == (3, 4, 3, 16, 16) and rows.rhos[0] == 0 and rows.rhos[-1] == 1
    with pytest.raises(dyngen.errors.UsageError, match="unknown inference options"):
        dyngen.encode(run, clips[1], colour=1)
