"""Presets: every one builds a valid model and training configuration, and the paper's are the paper's."""

import pytest

from dyngen.algorithms.abptt import TrainConfig
from dyngen.cli.train import add_train_options
from dyngen.errors import UsageError
from dyngen.models.dynamic_generator import DynamicGenerator
from dyngen.presets import PRESETS, get_preset, resolve_config

# PAPER.md section 3: frames, size, d, k, c, sigma, T_c, epochs; 15 Langevin steps and one learning step each
PAPER = {
    "paper-texture": (60, 64, 100, 100, 0, 1.0, 30, 3000),
    "paper-action": (30, 64, 3, 100, 100, 1.0, 30, 7000),
    "paper-recovery": (70, 150, 100, 100, 0, 0.5, 70, 7000),
    "paper-removal": (150, 128, 100, 100, 0, 0.5, 150, 7000),
}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_its_model_and_training(name):
    cfg = resolve_config(name)
    size = get_preset(name)["data"]["size"]
    model = DynamicGenerator(cfg.model)
    assert model.generator.size == (size, size)
    assert cfg.train.to_dict() == TrainConfig.from_dict(get_preset(name)["train"]).to_dict()


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_presets_are_the_papers_settings(name):
    frames, size, d, k, c, sigma, window, epochs = PAPER[name]
    cfg = get_preset(name)
    assert cfg["data"] == {"frames": frames, "size": size}
    m, t = cfg["model"], cfg["train"]
    assert (m["state_dim"], m["noise_dim"], m["appearance_dim"]) == (d, k, c)
    assert (m["base_channels"], m["max_channels"], m["transition_activation"]) == (64, 512, "relu")
    assert (t["sigma"], t["window"], t["epochs"]) == (sigma, window, epochs)
    assert (t["langevin_steps"], t["learn_steps"]) == (15, 1)
    defaults = TrainConfig()  # what the presets leave out: the paper's step size, rate, constant schedule, no guard
    assert (defaults.step_size, defaults.lr, defaults.beta1, defaults.lr_final, defaults.spike_factor) == (
        0.03, 0.002, 0.5, 1.0, 0.0,
    )  # fmt: skip
    assert not set(t) & {"step_size", "lr", "beta1", "lr_final", "spike_factor", "fuse_learning"}


def test_the_default_preset_of_train_exists():
    import argparse

    p = argparse.ArgumentParser()
    add_train_options(p)
    assert p.parse_args([]).preset in PRESETS


def test_settings_find_their_group_and_type():
    from dyngen.presets import parse_overrides, resolve_config

    pairs = ["spike_factor=10", "base_channels=32", "fuse_learning=true", "precision=bf16"]
    assert parse_overrides(pairs) == {"spike_factor": 10.0, "base_channels": 32, "fuse_learning": True,
                                      "precision": "bf16"}  # fmt: skip
    with pytest.raises(UsageError, match="unknown setting 'colour'"):
        parse_overrides(["colour=red"])
    with pytest.raises(UsageError, match="not a int"):
        parse_overrides(["epochs=many"])
    cfg = resolve_config("cpu-texture", size=(32, 48), frames=20, overrides={"base_channels": 8, "epochs": 3})
    assert (cfg.model.height, cfg.model.width, cfg.model.base_channels, cfg.model.max_channels) == (32, 48, 8, 256)
    assert cfg.train.epochs == 3 and cfg.train.spike_factor == 10.0 and cfg.data["frames"] == 20
    with pytest.raises(UsageError, match=r"lr \(--lr\) must be a positive finite number, got -1"):
        resolve_config("cpu-texture", overrides={"lr": -1})
    with pytest.raises(UsageError, match="unknown setting 'colour'"):
        resolve_config("cpu-texture", overrides={"colour": 1})
