"""``--log tensorboard``: event files written by the standard library, read back by our decoder and by TensorBoard."""

from __future__ import annotations

import json

import pytest
from conftest import tiny_configs

from dyngen.cli import main
from dyngen.runs.tensorboard import EventWriter, crc32c, read_events
from dyngen.runs.train import resume, train


def test_crc32c_known_answer():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert crc32c(b"") == 0


def test_writer_round_trip(tmp_path):
    w = EventWriter(tmp_path / "tb")
    w.scalars(3, {"loss": 1.5, "psnr": 20.25, "flag": True, "name": "x"}, prefix="train/")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes([0, 0, 0, 7, 0, 0, 0, 5, 8, 6])  # a 7x5 RGBA header
    events = read_events(w.path)
    assert events[0]["file_version"] == "brain.Event:2"
    assert events[1]["step"] == 3 and events[1]["scalars"] == {"train/loss": 1.5, "train/psnr": 20.25}
    w.image(4, "preview", png)
    assert read_events(w.path)[2]["images"]["preview"] == png
    with pytest.raises(ValueError, match="not a PNG"):
        w.image(5, "preview", b"GIF89a")
    data = bytearray(w.path.read_bytes())
    data[-5] ^= 1  # one flipped bit in the last record
    (tmp_path / "bad").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt record"):
        read_events(tmp_path / "bad")


def test_training_logs_every_epoch_and_the_previews(tmp_path, clip):
    mc, tc = tiny_configs(epochs=4, preview_every=2, log="tensorboard")
    run = tmp_path / "run"
    train(run, clip[None], names=["clip"], model_config=mc, train_config=tc, device="cpu")
    resume(run, epochs=6, device="cpu")  # a second file; the steps continue
    files = sorted((run / "tensorboard").glob("events.out.tfevents.*"))
    assert len(files) == 2
    events = [e for f in files for e in read_events(f)]
    scalars = {e["step"]: e["scalars"] for e in events if e["scalars"]}
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert sorted(scalars) == [m["epoch"] for m in metrics] == [1, 2, 3, 4, 5, 6]
    for m in metrics:
        assert scalars[m["epoch"]]["train/loss"] == pytest.approx(m["loss"], rel=1e-6)
        assert scalars[m["epoch"]]["train/psnr"] == pytest.approx(m["psnr"], rel=1e-6)
    images = {e["step"]: e["images"]["preview"] for e in events if e["images"]}
    assert sorted(images) == [2, 4, 6]
    assert images[4] == (run / "previews" / "epoch_00004.png").read_bytes()


def test_tensorboard_reads_the_files(tmp_path, clip):
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator", reason="tensorboard is not installed (optional)"
    )
    mc, tc = tiny_configs(epochs=3, preview_every=3, log="tensorboard")
    train(tmp_path / "run", clip[None], names=["clip"], model_config=mc, train_config=tc, device="cpu")
    acc = accumulator.EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/psnr")] == [1, 2, 3]
    (image,) = acc.Images("preview")
    assert image.step == 3 and image.encoded_image_string[:4] == b"\x89PNG"


def test_cli_flag(tmp_path, capsys):
    from dyngen.io.procedural import ripples
    from dyngen.io.video import write_video

    video = write_video(tmp_path / "clip.npy", ripples(12, 16, seed=2))
    argv = ["train", str(video), "--out", str(tmp_path / "run"), "--size", "16", "--frames", "12", "--epochs", "2",
            "--state-dim", "4", "--noise-dim", "3", "--width", "8", "--max-width", "16", "--quiet"]  # fmt: skip
    assert main([*argv, "--log", "tensorboard"]) == 0
    assert len(list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert main([*argv[:3], str(tmp_path / "run2"), *argv[4:], "--log", "csv"]) == 2
    assert "choose from 'jsonl', 'tensorboard'" in capsys.readouterr().err
