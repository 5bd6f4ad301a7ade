"""The studio's background worker: one job at a time, the rest queued, none in a request's thread.

A job is a planned library call (``dyngen.studio.actions``) with what the page shows of it: its state
(queued, running, done, stopped, failed, cancelled), the epochs done and their loss and PSNR, the files it
wrote, and the warnings dyngen logged while it ran. Jobs live in the server process, so a reload or a second
tab sees the same ones, and closing the browser stops nothing. A running training is stopped through its
``stop`` event: it saves a checkpoint after the current epoch and can be resumed, from the studio or with
``dyngen train --resume``.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dyngen.errors import DyngenError, one_line, unexpected_message

log = logging.getLogger(__name__)
STATES = ("queued", "running", "done", "stopped", "failed", "cancelled")
MAX_NOTES = 20  # warnings kept per job


@dataclass
class Job:
    """One request for work, as the page sees it."""

    id: int
    kind: str
    title: str
    execute: Callable[[Job], None]
    state: str = "queued"
    message: str = ""
    epoch: int = 0
    epochs: int = 0
    records: list[dict[str, float]] = field(default_factory=list)  # {epoch, loss, psnr} per epoch
    outputs: list[dict[str, str]] = field(default_factory=list)  # {path, label, role}
    notes: list[str] = field(default_factory=list)
    run: str | None = None  # the run directory it trains or reads (workspace-relative)
    info: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def on_epoch(self, record: dict[str, Any]) -> None:
        """The epoch callback of training: progress for the page."""
        self.epoch = int(record["epoch"])
        self.records.append({k: record[k] for k in ("epoch", "loss", "psnr") if k in record})

    def output(self, path: str, label: str, role: str = "file") -> None:
        self.outputs.append({"path": path, "label": label, "role": role})

    def public(self) -> dict[str, Any]:
        keys = ("id", "kind", "title", "state", "message", "epoch", "epochs", "outputs", "notes", "run", "info",
                "created", "started", "finished")  # fmt: skip
        out = {k: getattr(self, k) for k in keys}
        out["records"] = self.records
        out["stopping"] = self.stop.is_set() and self.state == "running"
        return out


class _Notes(logging.Handler):
    """Warnings that dyngen logs from the worker thread, kept on the running job."""

    def __init__(self, jobs: JobQueue) -> None:
        super().__init__(logging.WARNING)
        self.jobs = jobs

    def emit(self, record: logging.LogRecord) -> None:
        job = self.jobs.current
        if job is not None and record.thread == self.jobs.thread.ident and len(job.notes) < MAX_NOTES:
            job.notes.append(one_line(record.getMessage()))


class JobQueue:
    """Jobs run one at a time, in order, by one worker thread."""

    def __init__(self) -> None:
        self.jobs: dict[int, Job] = {}
        self.current: Job | None = None
        self._ids = itertools.count(1)
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._work, name="dyngen-studio-worker", daemon=True)
        self._notes = _Notes(self)
        logging.getLogger("dyngen").addHandler(self._notes)
        self.thread.start()

    def submit(self, kind: str, title: str, execute: Callable[[Job], None], **fields: Any) -> Job:
        with self._lock:
            job = Job(next(self._ids), kind, title, execute, **fields)
            self.jobs[job.id] = job
        self._queue.put(job)
        return job

    def get(self, job_id: int) -> Job | None:
        return self.jobs.get(job_id)

    def stop(self, job_id: int) -> Job | None:
        """Cancel a queued job, or ask a running one to stop (training checkpoints first)."""
        job = self.jobs.get(job_id)
        if job is None:
            return None
        with self._lock:
            if job.state == "queued":
                job.state, job.finished = "cancelled", time.time()
        job.stop.set()
        return job

    def list(self) -> list[dict[str, Any]]:
        return [j.public() for j in sorted(self.jobs.values(), key=lambda j: -j.id)]

    def close(self, timeout: float = 60.0) -> None:
        """Stop the running job (it checkpoints), cancel the queued ones, and end the worker."""
        for job in list(self.jobs.values()):
            if job.state in ("queued", "running"):
                self.stop(job.id)
        self._queue.put(None)
        self.thread.join(timeout)
        logging.getLogger("dyngen").removeHandler(self._notes)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            with self._lock:
                if job.state != "queued":
                    continue
                job.state, job.started, self.current = "running", time.time(), job
            try:
                job.execute(job)
                job.state = "stopped" if job.stop.is_set() and job.epochs and job.epoch < job.epochs else "done"
            except DyngenError as e:
                job.state, job.message = "failed", one_line(str(e))
            except Exception as e:
                log.exception("job %d (%s) failed", job.id, job.kind)
                job.state = "failed"
                job.message = unexpected_message(e, traceback_hint="the studio's terminal shows the traceback")
            finally:
                job.finished, self.current = time.time(), None
