"""The studio's HTTP server: the standard library's threaded server, one static page, a small JSON API.

Why not Gradio: it pulls in some 60 packages (FastAPI, uvicorn, pandas, ...), and its pages load fonts and
scripts from outside unless configured not to; this field's tools use it, but "works with no network" and
"reads only its workspace" are easier to prove for a server small enough to read. This one is
``http.server.ThreadingHTTPServer``, a page of plain HTML, CSS and JavaScript served from the package
(``static/``), and these routes:

    GET  /                      the page;  GET /static/NAME  its script and style sheet
    GET  /api/state             jobs, uploads, runs, presets, limits (the page polls it)
    GET  /api/frame?clip&size&index   one frame of a clip as PNG (to draw a mask on)
    GET  /api/preview?clip      a GIF preview of a clip (made once, in cache/)
    GET  /files/PATH            a file of the workspace (?download=1 to save it)
    POST /api/upload?name=FILE  the file's bytes (application/octet-stream), at most --max-upload-mb
    POST /api/demo              the embedded demo texture into uploads/
    POST /api/jobs              {"kind": ..., "params": {...}}: check and queue a job
    POST /api/jobs/ID/stop      cancel a queued job or stop a running one (training checkpoints)

Every response forbids the page to load anything from elsewhere (Content-Security-Policy ``default-src
'self'``). Bound to 127.0.0.1 unless ``--host`` says otherwise; then requests must name that host (no DNS
rebinding), and a POST must come from the page itself: JSON or octet-stream bodies (which a form on another
site cannot send without a preflight this server never answers) and, where the browser sends one, an Origin
of this server.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dyngen import __version__
from dyngen.errors import DyngenError, UsageError, one_line, unexpected_message
from dyngen.studio.actions import parse_size, plan
from dyngen.studio.jobs import JobQueue
from dyngen.studio.workspace import StudioError, Workspace

log = logging.getLogger(__name__)
STATIC = ("index.html", "app.js", "style.css")
MAX_JSON = 32 * 2**20  # a request body other than an upload (a drawn mask is a few hundred kB)
DRAIN_FACTOR = 4  # a refused upload up to this many times the limit is read (and dropped) before the answer
PREVIEW_SIDE = 160  # the longer side of a clip's preview GIF, at most
PREVIEW_FRAMES = 150
LOOPBACK = ("127.0.0.1", "localhost", "::1")
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self'; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
FILE_POLICY = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; sandbox"


class Studio:
    """What the request handlers share: the workspace, the job queue and the limits."""

    def __init__(self, workspace: str | Path, *, device: str = "auto", max_upload_mb: float = 200.0) -> None:
        self.ws = Workspace(workspace)
        self.jobs = JobQueue()
        self.device = device
        self.upload_limit = int(max_upload_mb * 2**20)
        self._preview_lock = threading.Lock()

    def state(self) -> dict[str, Any]:
        from dyngen.presets import PRESETS
        from dyngen.tasks.recover import METHODS

        return {"version": __version__, "workspace": str(self.ws.root), "jobs": self.jobs.list(),
                "uploads": self.ws.uploads(), "runs": self.ws.runs(), "presets": list(PRESETS),
                "methods": list(METHODS), "max_upload_mb": self.upload_limit / 2**20}  # fmt: skip

    def submit(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("kind"), str):
            raise StudioError('a job is {"kind": ..., "params": {...}}')
        title, execute, fields = plan(body["kind"], body.get("params") or {}, self.ws, self.device)
        return self.jobs.submit(body["kind"], title, execute, **fields).public()

    def frame(self, query: dict[str, str]) -> bytes:
        """One frame of a clip at the training size, as PNG."""
        import io

        from PIL import Image

        from dyngen.io.video import read_video

        clip = self.ws.resolve(query.get("clip"), under="uploads")
        index = _int(query.get("index", "0"), "index", lo=0)
        size = parse_size(query.get("size", "64"))
        frame = read_video(clip, size=size, frames=1, start=index, crop=query.get("crop", "none"))[0]
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="PNG")
        return buf.getvalue()

    def preview(self, query: dict[str, str]) -> dict[str, Any]:
        """A GIF of a clip, at most ``PREVIEW_SIDE`` pixels on its longer side (made once per file version)."""
        from dyngen.io.video import read_video, write_video

        clip = self.ws.resolve(query.get("clip"), under="uploads")
        info = self.ws.describe(clip)
        target = self.ws.root / "cache" / f"{clip.name}.{clip.stat().st_mtime_ns}.gif"
        with self._preview_lock:
            if not target.is_file():
                h, w = info["height"], info["width"]
                scale = min(1.0, PREVIEW_SIDE / max(h, w))
                frames = read_video(clip, size=(max(1, round(h * scale)), max(1, round(w * scale))))
                write_video(target, frames[:PREVIEW_FRAMES])
                info["frames"] = len(frames)
        return {**info, "preview": self.ws.rel(target)}

    def close(self) -> None:
        self.jobs.close()


def _int(text: str, name: str, *, lo: int) -> int:
    if not re.fullmatch(r"\d+", text or "") or int(text) < lo:
        raise StudioError(f"{name} must be an integer >= {lo}, got {text!r}")
    return int(text)


class Handler(BaseHTTPRequestHandler):
    """One request; ``self.server.studio`` holds the shared state."""

    server_version = f"dyngen-studio/{__version__}"
    protocol_version = "HTTP/1.1"

    @property
    def studio(self) -> Studio:
        return self.server.studio  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # ------------------------------------------------------------------------------------------ responses

    def _send(self, status: int, body: bytes, content_type: str, *, policy: str = PAGE_POLICY,
              headers: dict[str, str] | None = None) -> None:  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", policy)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any, status: int = 200) -> None:
        self._send(status, json.dumps(value, default=str).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json({"error": one_line(message)}, status)

    def _guarded(self, action) -> None:
        try:
            if not self._host_allowed():
                return self._error(HTTPStatus.MISDIRECTED_REQUEST, "this studio answers only requests to its own host")
            action()
        except UsageError as e:  # the request asks for something impossible (StudioError is one)
            self._error(HTTPStatus.BAD_REQUEST, str(e))
        except DyngenError as e:
            self._error(HTTPStatus.UNPROCESSABLE_ENTITY, str(e))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:
            log.exception("request %s %s failed", self.command, self.path)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, unexpected_message(e, traceback_hint="see the terminal"))

    def _host_allowed(self) -> bool:
        bound = self.server.server_address[0]  # type: ignore[index]
        if bound not in LOOPBACK:
            return True  # reachable by name or address from other machines, as the user asked with --host
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        return host in LOOPBACK

    # ------------------------------------------------------------------------------------------ GET

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self._guarded(self._get)

    def _get(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        route = url.path
        if route in ("/", "/index.html"):
            return self._static("index.html")
        if route.startswith("/static/"):
            return self._static(route.removeprefix("/static/"))
        if route == "/api/state":
            return self._json(self.studio.state())
        if route == "/api/frame":
            return self._send(200, self.studio.frame(query), "image/png")
        if route == "/api/preview":
            return self._json(self.studio.preview(query))
        if route.startswith("/files/"):
            return self._file(unquote(route.removeprefix("/files/")), download=query.get("download") == "1")
        self._error(HTTPStatus.NOT_FOUND, f"no such page: {route}")

    def _static(self, name: str) -> None:
        if name not in STATIC:
            return self._error(HTTPStatus.NOT_FOUND, f"no such file: {name}")
        body = resources.files("dyngen.studio").joinpath("static", name).read_bytes()
        kind = {"html": "text/html", "js": "text/javascript", "css": "text/css"}[name.rsplit(".", 1)[1]]
        self._send(200, body, f"{kind}; charset=utf-8")

    def _file(self, rel: str, *, download: bool) -> None:
        path = self.studio.ws.resolve(rel)
        if not path.is_file():
            raise StudioError(f"{rel}: not a file")
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers = {"Content-Disposition": f'attachment; filename="{path.name}"'} if download else None
        self._send(200, path.read_bytes(), kind, policy=FILE_POLICY, headers=headers)

    # ------------------------------------------------------------------------------------------ POST

    def do_POST(self) -> None:
        self._guarded(self._post)

    def _post(self) -> None:
        origin = self.headers.get("Origin")
        if origin and urlsplit(origin).netloc != self.headers.get("Host"):
            return self._error(HTTPStatus.FORBIDDEN, "requests must come from the studio's own page")
        url = urlsplit(self.path)
        length = self._length()
        if url.path == "/api/upload":
            return self._upload(url, length)
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            self._drain(length)
            return self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON (Content-Type: application/json)")
        if length > MAX_JSON:
            self.close_connection = True
            return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a request is at most {MAX_JSON >> 20} MB")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as e:
            raise StudioError(f"the request is not JSON: {e}") from None
        if url.path == "/api/jobs":
            return self._json({"job": self.studio.submit(body)})
        m = re.fullmatch(r"/api/jobs/(\d+)/stop", url.path)
        if m:
            job = self.studio.jobs.stop(int(m.group(1)))
            if job is None:
                return self._error(HTTPStatus.NOT_FOUND, f"no job {m.group(1)}")
            return self._json({"job": job.public()})
        if url.path == "/api/demo":
            seed = body.get("seed", 0) if isinstance(body, dict) else 0
            if not isinstance(seed, int) or seed < 0:
                raise StudioError(f"the demo's seed must be an integer >= 0, got {seed!r}")
            return self._json({"upload": self.studio.ws.write_demo(seed=seed)})
        self._error(HTTPStatus.NOT_FOUND, f"no such action: {url.path}")

    def _length(self) -> int:
        text = self.headers.get("Content-Length")
        if text is None or not text.isdigit():
            self.close_connection = True
            raise StudioError("the request needs a Content-Length")
        return int(text)

    def _drain(self, length: int, *, limit: int = MAX_JSON) -> None:
        """Read and drop an unwanted body, so that the client sees the answer; a huge one closes the connection."""
        if length > limit:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)

    def _upload(self, url, length: int) -> None:
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/octet-stream":
            self._drain(length)
            return self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the file's bytes as application/octet-stream")
        name = parse_qs(url.query).get("name", [""])[-1]
        try:
            self.studio.ws.check_upload(name, length, limit=self.studio.upload_limit)
        except StudioError:
            self._drain(length, limit=DRAIN_FACTOR * self.studio.upload_limit)  # so that the browser reads the answer
            raise
        info = self.studio.ws.store_upload(name, self.rfile, length, limit=self.studio.upload_limit)
        self._json({"upload": info})


def make_server(studio: Studio, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """The server (not started: call ``serve_forever``); port 0 picks a free one (``server.server_port``)."""
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.studio = studio  # type: ignore[attr-defined]
    return server
