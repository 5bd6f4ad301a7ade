"""``dyngen train``: learn a model of one video or a set of videos into a run directory."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dyngen.algorithms.abptt import TrainConfig
from dyngen.cli import HelpFormatter, add_common, emit
from dyngen.cli.options import (
    FRAME_INDEX,
    FRAME_RATE,
    FRAMES,
    MINUTES,
    add_config_options,
    add_crop_option,
    config_overrides,
    number,
    parse_size,
    path,
)
from dyngen.errors import Interrupted, UsageError
from dyngen.models.dynamic_generator import ModelConfig
from dyngen.presets import PRESETS, Resolved, get_preset, resolve_config


def add_data_options(p: argparse.ArgumentParser, preset: dict[str, Any]) -> None:
    g = p.add_argument_group("data")
    data, name = preset["data"], preset["name"]
    g.add_argument("--size", type=parse_size, default=None, help=f"frame size S or HxW ({name}: {data['size']})")
    g.add_argument(
        "--frames", type=number(int, FRAMES), default=None, help=f"frames per video ({name}: {data['frames']})"
    )
    g.add_argument("--start", type=number(int, FRAME_INDEX), default=0, help="first frame to use")
    g.add_argument("--fps", type=number(float, FRAME_RATE), default=None,
                   help="resample videos to this frame rate (default: keep)")  # fmt: skip
    add_crop_option(g)


def add_train_options(p: argparse.ArgumentParser, *, default_preset: str = "cpu-texture") -> None:
    """``--preset``, the data options and a flag for every model and training setting (``dyngen.cli.options``)."""
    preset = {**get_preset(default_preset), "name": default_preset}
    p.add_argument("--preset", default=default_preset, choices=list(PRESETS),
                   help="settings to start from (their values: dyngen presets NAME)")  # fmt: skip
    add_data_options(p, preset)
    p.add_argument(
        "--time-limit",
        type=number(float, MINUTES),
        default=None,
        help="stop (with a checkpoint) after this many minutes of training",
    )
    add_config_options(p, ModelConfig, defaults=preset["model"], source=default_preset)
    add_config_options(p, TrainConfig, defaults=preset["train"], source=default_preset)


def resolve(args: argparse.Namespace) -> Resolved:
    """The preset's settings with the command-line overrides applied, validated before any video is read."""
    overrides = config_overrides(args, ModelConfig, TrainConfig)
    if getattr(args, "seed", None) is not None:
        overrides["seed"] = args.seed
    return resolve_config(args.preset, size=args.size, frames=args.frames, overrides=overrides)


def data_info(args: argparse.Namespace) -> dict[str, Any]:
    """Where the training frames came from, as the run records it (later reads for the run crop alike)."""
    return {"paths": [str(v) for v in args.videos], "start": args.start, "fps": args.fps, "crop": args.crop}


class StopRequest(threading.Event):
    """Set to stop training after the current epoch; ``signum`` says which signal asked, if any."""

    signum: int | None = None


@contextlib.contextmanager
def graceful_stop() -> Iterator[StopRequest]:
    """The first Ctrl-C (or SIGTERM) asks training to checkpoint and stop; a second one interrupts at once."""
    stop = StopRequest()

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.signum = signum
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals reach the main thread only
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def raise_if_interrupted(stop: StopRequest, trained) -> None:
    """After a stop by signal before the last epoch: raise Interrupted (exit code 130 for Ctrl-C) with how to resume."""
    if stop.signum is None or trained.epoch >= int(trained.config["train"]["epochs"]):
        return
    name = "Ctrl-C" if stop.signum == signal.SIGINT else signal.Signals(stop.signum).name
    raise Interrupted(
        f"stopped by {name} at epoch {trained.epoch}; the checkpoint is saved. "
        f"Continue with: dyngen train --out {trained.run.path} --resume",
        stop.signum,
    )


@contextlib.contextmanager
def progress(total: int, initial: int, quiet: bool, desc: str = "train") -> Iterator[Callable[[dict], None]]:
    """A tqdm bar fed by epoch records: epoch, reconstruction MSE and PSNR, ETA."""
    if quiet:
        yield lambda record: None
        return
    from tqdm import tqdm

    bar = tqdm(total=total, initial=initial, desc=desc, unit="epoch", dynamic_ncols=True)

    def update(record: dict) -> None:
        bar.update(record["epoch"] - bar.n)
        bar.set_postfix(mse=f"{record['mse']:.4f}", psnr=f"{record['psnr']:.2f}dB")

    try:
        yield update
    finally:
        bar.close()


def with_time_limit(callback: Callable[[dict], None], stop: threading.Event, minutes: float | None):
    """Wrap an epoch callback so that training stops (with a checkpoint) after ``minutes`` of training of each run:
    a command that trains two runs (``recover --both-ways``) gives the second its own ``minutes``, so a stop this
    limit set is lifted when a run under the limit reports; a stop set otherwise (Ctrl-C) stays."""
    if not minutes:
        return callback
    limited = False  # whether ``stop`` is set by this limit

    def wrapped(record: dict) -> None:
        nonlocal limited
        callback(record)
        if record["elapsed"] >= 60 * minutes:
            limited = True
            stop.set()
        elif limited:  # the next run, with a limit of its own
            limited = False
            stop.clear()

    return wrapped


def init_distributed(args: argparse.Namespace) -> bool:
    """Under ``torchrun`` (WORLD_SIZE > 1): join the process group (gloo on CPUs, NCCL on GPUs, one GPU per
    process) and silence every rank but 0. Returns whether training is data-parallel."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    import torch
    from torch import distributed as dist

    from dyngen.device import resolve_device

    if resolve_device(args.device).type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        args.device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if args.device.startswith("cuda") else "gloo")
    if dist.get_rank() != 0:
        args.quiet, args.json = True, False
    return True


def run_training(args: argparse.Namespace, frames, names, *, missing=None, data_info=None, desc: str = "train"):
    """Train (or resume) with a progress bar and graceful Ctrl-C; returns the trained run."""
    from dyngen.runs.train import train

    cfg = resolve(args)
    with graceful_stop() as stop, progress(cfg.train.epochs, 0, args.quiet, desc) as cb:
        trained = train(
            args.out, frames, names=names, model_config=cfg.model, train_config=cfg.train, missing=missing,
            data_info={**(data_info or {}), "preset": args.preset}, device=args.device,
            callback=with_time_limit(cb, stop, args.time_limit), stop=stop,
            distributed=getattr(args, "distributed", False),
        )  # fmt: skip
    raise_if_interrupted(stop, trained)
    return trained


def undertrained(run_path, resume_how: str | None = None) -> str | None:
    """A note for where a run's outputs are written when the run stopped short of its epochs (``--time-limit``,
    Ctrl-C): its model is undertrained; None when it finished."""
    from dyngen.runs.directory import Run

    run = Run(Path(run_path))
    done, epochs = run.read_summary().get("epochs"), run.read_config().get("train", {}).get("epochs")
    if done is None or epochs is None or done >= epochs:
        return None
    how = resume_how or f"dyngen train --out {run.path} --resume"
    return (
        f"the run stopped at epoch {done} of {epochs} ({100 * done / epochs:.0f}%), so its model and outputs are "
        f"undertrained; to continue: {how}"
    )


def lds_command(args: argparse.Namespace) -> int:
    """``dyngen train --model lds``: fit the linear baseline to one video (closed form, seconds)."""
    import torch

    from dyngen.io.dataset import load_videos
    from dyngen.runs.lds import train_lds

    if args.resume:
        raise UsageError("an LDS run is fitted in one go and cannot be resumed; --resume is for --model dg")
    if not args.videos:
        raise UsageError("give one video to fit the LDS to")
    data = get_preset(args.preset)["data"]
    size = data["size"] if args.size is None else args.size
    frames, names = load_videos(
        args.videos, size=size, frames=args.frames or data["frames"], start=args.start, fps=args.fps,
        crop=args.crop,
    )  # fmt: skip
    trained = train_lds(args.out, torch.from_numpy(frames), names=names, state_dim=args.state_dim,
                        data_info=data_info(args))  # fmt: skip
    s = {"run": str(trained.run.path), **trained.run.read_summary()}
    lines = [
        f"run: {trained.run.path}",
        f"LDS state dim {s['rank']} (asked {s['state_dim']}), reconstruction PSNR {s['psnr']:.2f} dB, "
        f"spectral radius {s['spectral_radius']:.4f}, fitted in {s['train_seconds']:.1f} s",
    ]
    emit(args, s, lines + ([f"warning: {s['warning']}"] if "warning" in s else []))
    return 0


def command(args: argparse.Namespace) -> int:
    from dyngen.io.dataset import load_videos
    from dyngen.runs.directory import Run
    from dyngen.runs.train import resume

    if args.model == "lds":
        return lds_command(args)
    args.distributed = init_distributed(args)
    if args.resume:
        run = Run.open(args.out)
        cfg = run.read_config()
        epochs = args.epochs or cfg["train"]["epochs"]
        done = run.read_metrics()
        with graceful_stop() as stop, progress(epochs, done[-1]["epoch"] if done else 0, args.quiet) as cb:
            cb = with_time_limit(cb, stop, args.time_limit)
            trained = resume(
                args.out, epochs=epochs, device=args.device, callback=cb, stop=stop, distributed=args.distributed
            )
        raise_if_interrupted(stop, trained)
    else:
        if not args.videos:
            raise UsageError("give at least one video (or a folder of videos) to train on")
        cfg = resolve(args)
        Run.check_new(args.out)  # before the videos are decoded
        frames, names = load_videos(
            args.videos, size=cfg.data["size"], frames=cfg.data["frames"], start=args.start, fps=args.fps,
            crop=args.crop,
        )  # fmt: skip
        trained = run_training(args, frames, names, data_info=data_info(args))
    summary = {"run": str(trained.run.path), **trained.run.read_summary()}
    emit(
        args,
        summary,
        [
            f"run: {trained.run.path}",
            f"epochs: {summary['epochs']}, reconstruction PSNR {summary['psnr']:.2f} dB, "
            f"{summary['train_seconds']:.0f} s",
            f"loss curve: {trained.run.path / 'loss.png'}",
        ],
        warnings=[undertrained(trained.run.path)],
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="learn a dynamic generator from one or more videos",
        description="Learn a dynamic generator from videos by alternating back-propagation through time. "
        "Several videos (or a folder of them) train one model with an appearance vector per video "
        "(give --appearance-dim or a *-action preset). Launched by torchrun (torchrun --nproc-per-node N -m "
        "dyngen train ...), the videos are shared out among the N processes (data-parallel; README).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("videos", nargs="*", type=path, help="video files, folders of videos, or folders of frames")
    p.add_argument("--out", required=True, type=path, help="the run directory to create (or to continue with --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument(
        "--model", default="dg", choices=["dg", "lds"],
        help="dg: the dynamic generator, learned by ABPTT. lds: the linear dynamic texture baseline (Doretto et "
        "al. 2003: PCA + AR(1)), fitted in closed form in seconds to one video; it uses --state-dim (default "
        "min(50, T // 2)), --size, --frames, --start, --fps and ignores the training options",
    )  # fmt: skip
    add_train_options(p)
    add_common(p)
    p.set_defaults(func=command)
