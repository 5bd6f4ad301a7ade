"""``dyngen encode``: the latents (a, s_0, xi) of a video outside the training set, the model frozen."""

from __future__ import annotations

import argparse
from pathlib import Path

from dyngen.cli import HelpFormatter, add_common, emit, progress_bar
from dyngen.cli.options import FRAMES, add_config_options, config_overrides, deprecated, number, path
from dyngen.config import POSITIVE_INT


def add_encode_options(p: argparse.ArgumentParser, *, steps: int = 300, old_steps_flag: str | None = "--steps") -> None:
    """Options of frozen-model Langevin inference (``dyngen.algorithms.inference.EncodeConfig``); the Langevin steps
    are ``--langevin-steps`` as in ``train`` (``old_steps_flag``: its spelling before, kept for one release)."""
    from dyngen.algorithms.inference import EncodeConfig

    add_config_options(p, EncodeConfig, defaults={"steps": steps})
    if old_steps_flag:
        deprecated(p, old_steps_flag, "--langevin-steps", dest="steps", type=number(int, POSITIVE_INT))
    p.set_defaults(encode_steps_default=steps)


def encode_config(args: argparse.Namespace):
    from dyngen.algorithms.inference import EncodeConfig

    return EncodeConfig(**{"steps": args.encode_steps_default, **config_overrides(args, EncodeConfig)})


def latents_path(args: argparse.Namespace) -> Path:
    """Where the latents go: ``--out``, or ``VIDEO_latents.safetensors`` in the current folder, which must not
    exist yet (an explicit ``--out`` is replaced); checked before any work."""
    from dyngen.errors import UsageError
    from dyngen.io.atomic import check_writable

    if args.out is not None:
        return check_writable(args.out)
    out = Path(f"{Path(args.video).stem or Path(args.video).absolute().name}_latents.safetensors")
    if out.exists():
        raise UsageError(f"{out} exists (the default output); pass --out FILE to choose where the latents go")
    return check_writable(out)


def command(args: argparse.Namespace) -> int:
    from dyngen.device import resolve_device
    from dyngen.evaluation.fidelity import psnr_from_mse
    from dyngen.io.video import check_video_output, to_tensor, to_uint8, video_fps, write_video
    from dyngen.runs.checkpoint import load_trained
    from dyngen.tasks.appearance import read_model_video
    from dyngen.tasks.encode import encode, save_latents

    cfg = encode_config(args)
    out = latents_path(args)
    if args.reconstruct:
        check_video_output(args.reconstruct)
    trained = load_trained(args.run, resolve_device(args.device))
    video = read_model_video(trained, args.video, args.frames)
    with progress_bar(args.quiet, "encode") as bar:
        enc = encode(trained, video, config=cfg, seed=args.seed, progress=bar)
    psnr = psnr_from_mse(float(enc.mse(to_tensor(video)[None])[0]))
    a = enc.appearance[0].cpu()
    summary: dict = {"video": args.video, "frames": int(video.shape[0]), "psnr": round(psnr, 3),
                     "energy": float(enc.energy[0]), "appearance": [round(v, 6) for v in a.tolist()]}  # fmt: skip
    lines = [f"{args.video}: {video.shape[0]} frames encoded, reconstruction PSNR {psnr:.2f} dB"]
    if trained.model.appearance_dim:
        dist = (trained.chains.appearance.cpu() - a).norm(dim=1)
        order = dist.argsort().tolist()
        near = {trained.names[i]: round(float(dist[i]), 4) for i in order[:3]}
        summary["nearest"] = near
        lines.append("nearest training appearances: " + ", ".join(f"{k} ({v})" for k, v in near.items()))
    meta = {"run": str(trained.run.path), "video": str(args.video), "psnr": psnr}
    summary["latents"] = str(save_latents(out, enc, metadata=meta))
    lines.append(f"latents: {out} (appearance, s_0 and noise; use it as --appearance or --motion-from)")
    if args.reconstruct:
        path = write_video(args.reconstruct, to_uint8(enc.reconstruction[0]), fps=video_fps(args.video))
        summary["reconstruction"] = str(path)
        lines.append(f"reconstruction: {path}")
    emit(args, summary, lines)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "encode",
        help="infer the latents (appearance a, s_0, noise) of a new video with a trained model frozen",
        description="Infer the latents of a video outside the training set by Langevin on the posterior, the "
        "model's parameters fixed, and write them to a latents file (the appearance vector itself is in the --json "
        "line). The video is resized to the model's size and cut to --frames (default: the training length). The "
        "latents file works as an appearance or motion source: dyngen synthesize RUN --appearance "
        "LATENTS.safetensors.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("run", type=path, help="a run directory made by 'dyngen train'")
    p.add_argument("video", type=path, help="a video file, a folder of frames, an image or a .npy array")
    p.add_argument("--out", default=None, type=path,
                   help="write the latents here (.safetensors; default: VIDEO_latents.safetensors in the current "
                   "folder, if it is new)")  # fmt: skip
    p.add_argument("--reconstruct", default=None, type=path,
                   help="write the reconstruction G(s_t, a) here (.mp4, .gif, .npy)")  # fmt: skip
    p.add_argument("--frames", type=number(int, FRAMES), default=None,
                   help="frames to encode (default: the run's training length)")  # fmt: skip
    add_encode_options(p)
    add_common(p, memory_hint="try fewer --frames or --restarts")
    p.set_defaults(func=command)
