"""``dyngen train``: learn a model of one video or a set of videos into a run directory."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from dyngen.algorithms.abptt import TrainConfig
from dyngen.cli import HelpFormatter, add_common, emit, parse_size
from dyngen.cli.options import add_config_options, config_overrides
from dyngen.errors import Interrupted, UsageError
from dyngen.models.dynamic_generator import ModelConfig
from dyngen.presets import PRESETS, Resolved, get_preset, resolve_config


def add_data_options(p: argparse.ArgumentParser, preset: dict[str, Any]) -> None:
    g = p.add_argument_group("data")
    data, name = preset["data"], preset["name"]
    g.add_argument("--size", type=parse_size, default=None, help=f"frame size S or HxW ({name}: {data['size']})")
    g.add_argument("--frames", type=int, default=None, help=f"frames per video ({name}: {data['frames']})")
    g.add_argument("--start", type=int, default=0, help="first frame to use")
    g.add_argument("--fps", type=float, default=None, help="resample videos to this frame rate (default: keep)")


def add_train_options(p: argparse.ArgumentParser, *, default_preset: str = "cpu-texture") -> None:
    """``--preset``, the data options and a flag for every model and training setting (``dyngen.cli.options``)."""
    preset = {**get_preset(default_preset), "name": default_preset}
    p.add_argument("--preset", default=default_preset, help=f"settings to start from; one of: {', '.join(PRESETS)} "
                   "(their values: dyngen presets NAME)")  # fmt: skip
    add_data_options(p, preset)
    p.add_argument(
        "--time-limit", type=float, default=None, help="stop (with a checkpoint) after this many minutes of training"
    )
    add_config_options(p, ModelConfig, defaults=preset["model"], source=default_preset)
    add_config_options(p, TrainConfig, defaults=preset["train"], source=default_preset)


def resolve(args: argparse.Namespace) -> Resolved:
    """The preset's settings with the command-line overrides applied, validated before any video is read."""
    overrides = config_overrides(args, ModelConfig, TrainConfig)
    if getattr(args, "seed", None) is not None:
        overrides["seed"] = args.seed
    cfg = resolve_config(args.preset, size=args.size, frames=args.frames, overrides=overrides)
    check_data_options(cfg.data["frames"], args)
    return cfg


def check_data_options(frames: int, args: argparse.Namespace) -> None:
    """Refuse impossible --frames, --start, --fps and --time-limit values (UsageError, exit code 2)."""
    if frames < 1:
        raise UsageError(f"--frames must be >= 1, got {frames}")
    if args.start < 0:
        raise UsageError(f"--start must be >= 0, got {args.start}")
    for flag in ("fps", "time_limit"):
        v = getattr(args, flag, None)
        if v is not None and not 0 < v < float("inf"):
            raise UsageError(f"--{flag.replace('_', '-')} must be a positive number, got {v}")


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
    """Wrap an epoch callback so that training stops (with a checkpoint) after ``minutes`` of training."""
    if not minutes:
        return callback

    def wrapped(record: dict) -> None:
        callback(record)
        if record["elapsed"] >= 60 * minutes:
            stop.set()

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
        args.videos, size=size, frames=args.frames or data["frames"], start=args.start, fps=args.fps
    )
    info = {"paths": [str(v) for v in args.videos], "start": args.start, "fps": args.fps}
    trained = train_lds(args.out, torch.from_numpy(frames), names=names, state_dim=args.state_dim, data_info=info)
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
        check_data_options(1, args)
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
        frames, names = load_videos(
            args.videos, size=cfg.data["size"], frames=cfg.data["frames"], start=args.start, fps=args.fps
        )
        info = {"paths": [str(v) for v in args.videos], "start": args.start, "fps": args.fps}
        trained = run_training(args, frames, names, data_info=info)
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
    p.add_argument("videos", nargs="*", help="video files, folders of videos, or folders of frames")
    p.add_argument("--out", required=True, help="the run directory to create (or to continue with --resume)")
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
