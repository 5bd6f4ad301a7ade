"""``dyngen studio``: the local web app (``dyngen.studio``), a page in the browser over the same library calls."""

from __future__ import annotations

import argparse
import sys

from dyngen.cli import HelpFormatter
from dyngen.cli.options import number
from dyngen.config import POSITIVE, Range
from dyngen.errors import UsageError

PORT = Range(lo=0, hi=65535, integer=True, hi_open=False, rule="a port in [0, 65535] (0: any free one)")
UPLOAD_MB = POSITIVE


def command(args: argparse.Namespace) -> int:
    from dyngen.studio.server import LOOPBACK, Studio, make_server

    studio = Studio(args.workspace, device=args.device, max_upload_mb=args.max_upload_mb)
    try:
        server = make_server(studio, args.host, args.port)
    except OSError as e:
        studio.close()
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}; try another --port") from None
    host, port = server.server_address[:2]
    shown = "127.0.0.1" if host == "0.0.0.0" else host
    print(f"dyngen studio: http://{shown}:{port}/  (workspace {studio.ws.root}; Ctrl-C stops)", flush=True)
    if host not in LOOPBACK:
        print(f"warning: listening on {host}: other machines on the network can use this studio", file=sys.stderr)
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        print("stopping: a running training saves its checkpoint first", file=sys.stderr)
    finally:
        server.server_close()
        studio.close()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "studio",
        help="a local web app: open a clip, train, synthesize, draw a mask and recover, in the browser",
        description="Serve the studio page on this machine (no network needed, nothing loaded from outside). "
        "Every file it reads or writes is under --workspace: uploads/, runs/ (the same run directories as "
        "'dyngen train --out'; runs made by the CLI there appear in the studio), outputs/. Training runs in a "
        "background worker, one job at a time; closing the browser does not stop it.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--workspace", default="dyngen-studio", help="the folder the studio works in (created if needed)")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on; another one than 127.0.0.1 "
                   "(for example 0.0.0.0) lets other machines reach the studio")  # fmt: skip
    p.add_argument("--port", type=number(int, PORT), default=8765, help="the port (0: any free one)")
    p.add_argument("--max-upload-mb", type=number(float, UPLOAD_MB), default=200.0,
                   help="the largest upload accepted, in MB")  # fmt: skip
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N, for every job")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.set_defaults(func=command)
