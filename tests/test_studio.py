"""The studio's server without a browser: its workspace rules, its refusals and its jobs, over real HTTP."""

from __future__ import annotations

import http.client
import json
import threading
import time

import numpy as np
import pytest

from dyngen.cli import main
from dyngen.io.procedural import ripples
from dyngen.io.video import write_video
from dyngen.studio.server import Studio, make_server
from dyngen.studio.workspace import StudioError, Workspace, safe_name

TINY = "state_dim=4 noise_dim=3 base_channels=8 max_channels=16 window=6 langevin_steps=1 learn_steps=1"


@pytest.fixture
def studio(tmp_path):
    """A studio on a free port of 127.0.0.1, serving from a thread; ``(studio, port)``."""
    s = Studio(tmp_path / "ws", device="cpu", max_upload_mb=1)
    server = make_server(s, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield s, server.server_port
    server.shutdown()
    server.server_close()
    s.close()


def request(port, method, path, body=None, *, headers=None, raw=False):
    """``(status, JSON)`` of one request; ``body`` is JSON unless ``raw`` (bytes, octet-stream)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    hdrs = {"Content-Type": "application/octet-stream" if raw else "application/json", **(headers or {})}
    data = body if raw else (None if body is None else json.dumps(body).encode())
    conn.request(method, path, body=data, headers=hdrs if data is not None else (headers or {}))
    r = conn.getresponse()
    payload = r.read()
    conn.close()
    return r.status, (json.loads(payload) if r.getheader("Content-Type") == "application/json" else payload)


def wait_job(port, job_id, states=("done", "failed", "stopped", "cancelled"), timeout=120):
    t0, job = time.time(), None
    while time.time() - t0 < timeout:
        job = next((j for j in request(port, "GET", "/api/state")[1]["jobs"] if j["id"] == job_id), None)
        if job is not None and job["state"] in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} is {job and job['state']} after {timeout} s")


def test_paths_from_the_browser_stay_in_the_workspace(tmp_path):
    ws = Workspace(tmp_path / "ws")
    (tmp_path / "secret.txt").write_text("x")
    (ws.root / "uploads" / "link.npy").symlink_to(tmp_path / "secret.txt")
    for bad in ("../secret.txt", "/etc/passwd", "uploads/../../secret.txt", "uploads/link.npy", "", None, 3):
        with pytest.raises(StudioError):
            ws.resolve(bad, under="uploads")
    with pytest.raises(StudioError, match="runs/ folder"):
        ws.resolve("uploads", under="runs", must_exist=False)
    assert ws.resolve("uploads/x.npy", under="uploads", must_exist=False) == ws.root / "uploads" / "x.npy"
    assert safe_name("../../a b/.hidden<x>.mp4") == "hidden_x_.mp4" and safe_name("...") == "file"


def test_files_outside_and_other_hosts_are_refused(studio):
    _, port = studio
    assert request(port, "GET", "/files/..%2f..%2fetc%2fpasswd")[0] == 400
    assert request(port, "GET", "/files/../../etc/passwd")[0] in (400, 404)
    assert request(port, "GET", "/static/../server.py")[0] == 404
    assert request(port, "GET", "/api/state", headers={"Host": "evil.example:80"})[0] == 421  # DNS rebinding
    status, body = request(port, "POST", "/api/demo", {}, headers={"Origin": "http://evil.example"})
    assert status == 403 and "own page" in body["error"]
    status, body = request(port, "POST", "/api/jobs", b"kind=train", headers={"Content-Type": "text/plain"}, raw=True)
    assert status == 415  # what a form on another site could send without a preflight


def test_page_and_its_policy(studio):
    _, port = studio
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/")
    r = conn.getresponse()
    page = r.read().decode()
    assert r.status == 200 and "dyngen studio" in page
    assert "default-src 'self'" in r.getheader("Content-Security-Policy")
    assert "http://" not in page and "https://" not in page  # nothing from outside


def test_uploads_are_limited_and_must_be_media(studio, tmp_path):
    s, port = studio
    video = write_video(tmp_path / "clip.mp4", ripples(12, 16, seed=1))
    status, body = request(port, "POST", "/api/upload?name=clip.mp4", video.read_bytes(), raw=True)
    assert status == 200 and body["upload"] == {"name": "clip.mp4", "kind": "video", "height": 16, "width": 16,
                                                "path": "uploads/clip.mp4"}  # fmt: skip
    status, body = request(port, "POST", "/api/upload?name=clip.mp4", video.read_bytes(), raw=True)
    assert body["upload"]["path"] == "uploads/clip-2.mp4"  # never overwritten
    status, body = request(port, "POST", "/api/upload?name=notes.txt", b"hello", raw=True)
    assert status == 400 and "not a video, image or mask; allowed" in body["error"]
    status, body = request(port, "POST", "/api/upload?name=fake.mp4", b"hello" * 100, raw=True)
    assert status == 400 and "cannot open as a video" in body["error"]
    status, body = request(port, "POST", "/api/upload?name=big.npy", b"0" * (2 * 2**20), raw=True)
    assert status == 400 and "at most 1 MB" in body["error"]
    status, body = request(port, "POST", "/api/upload?name=../../evil.png", b"x", raw=True)
    assert status == 400
    np.save(tmp_path / "m.npy", np.zeros((12, 16, 16), bool))
    status, body = request(port, "POST", "/api/upload?name=m.npy", (tmp_path / "m.npy").read_bytes(), raw=True)
    assert body["upload"]["kind"] == "mask"
    names = sorted(p.name for p in (s.ws.root / "uploads").iterdir())
    assert names == ["clip-2.mp4", "clip.mp4", "m.npy"]  # the refused files are gone, the partial ones too
    assert not (tmp_path / "evil.png").exists()


def test_bad_requests_get_the_libraries_messages(studio):
    _, port = studio
    request(port, "POST", "/api/demo", {"seed": 0})
    clip = "uploads/ripples-seed0.npy"
    cases = [
        ({"kind": "fly"}, "unknown job 'fly'; allowed: train"),
        ({"kind": "train", "params": {"clips": [clip], "preset": "fast"}}, "preset must be one of"),
        ({"kind": "train", "params": {"clips": [clip], "epochs": "many"}}, "epochs must be an integer >= 1"),
        ({"kind": "train", "params": {"clips": [clip], "settings": "depth=3"}}, "unknown setting 'depth'"),
        ({"kind": "train", "params": {"clips": [clip], "settings": "lr=-1"}}, "lr (--lr) must be"),
        ({"kind": "train", "params": {"clips": ["../x.npy"]}}, "outside the workspace's uploads/ folder"),
        ({"kind": "synthesize", "params": {"run": "runs/none"}}, "runs/none: no such file"),
        ({"kind": "recover", "params": {"clip": clip}}, "draw the mask on the frame, or choose a mask file"),
        ({"kind": "recover", "params": {"clip": clip, "blend": "vote"}}, "blend must be one of none, cv"),
        ({"kind": "recover", "params": {"clip": clip, "method": "hold", "both_ways": True}}, "(method dg), not hold"),
    ]
    for body, message in cases:
        status, answer = request(port, "POST", "/api/jobs", body)
        assert status == 400 and message in answer["error"], (body, answer)
    assert request(port, "GET", "/api/state")[1]["jobs"] == []  # nothing was queued


def test_train_stop_resume_synthesize_and_the_cli_shares_the_runs(studio, tmp_path, capsys):
    s, port = studio
    clip = request(port, "POST", "/api/demo", {"seed": 0})[1]["upload"]["path"]
    params = {"clips": [clip], "preset": "demo", "size": "16", "frames": "12", "epochs": "400", "settings": TINY}
    job = request(port, "POST", "/api/jobs", {"kind": "train", "params": params})[1]["job"]
    second = {"kind": "train", "params": {**params, "name": "second"}}
    queued = request(port, "POST", "/api/jobs", second)[1]["job"]
    assert queued["state"] == "queued"  # one job at a time
    assert request(port, "POST", f"/api/jobs/{queued['id']}/stop", {})[1]["job"]["state"] == "cancelled"
    wait_job(port, job["id"], states=("running",))
    while request(port, "GET", "/api/state")[1]["jobs"][-1]["epoch"] < 2:
        time.sleep(0.05)
    request(port, "POST", f"/api/jobs/{job['id']}/stop", {})
    stopped = wait_job(port, job["id"])
    assert stopped["state"] == "stopped" and 2 <= stopped["epoch"] < 400
    assert [r["epoch"] for r in stopped["records"]] == list(range(1, stopped["epoch"] + 1))
    run_dir = s.ws.root / job["run"]
    assert (run_dir / "checkpoint.safetensors").is_file()
    status, body = request(port, "POST", "/api/jobs", {"kind": "train", "params": params})
    assert status == 400 and "exists; choose another name, or continue it with Resume" in body["error"]
    resumed = request(port, "POST", "/api/jobs", {"kind": "resume", "params": {"run": job["run"], "epochs": "6"}})
    done = wait_job(port, resumed[1]["job"]["id"])
    assert done["state"] == "done" and done["epoch"] == 6, done
    # the CLI synthesizes from the studio's run, and the studio synthesizes from a run the CLI made
    assert main(["synthesize", str(run_dir), "--frames", "8", "--out", str(tmp_path / "s.npy"), "--quiet"]) == 0
    assert np.load(tmp_path / "s.npy").shape == (8, 16, 16, 3)
    cli_run = s.ws.root / "runs" / "from-cli"
    argv = ["train", str(s.ws.root / clip), "--out", str(cli_run), "--size", "16", "--frames", "12", "--epochs", "2",
            "--state-dim", "4", "--noise-dim", "3", "--width", "8", "--max-width", "16", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    runs = {r["name"]: r for r in request(port, "GET", "/api/state")[1]["runs"]}
    assert runs["from-cli"]["epoch"] == 2 and runs[run_dir.name]["epoch"] == 6
    synth = {"run": "runs/from-cli", "frames": "10", "num": "2", "loop": True}
    job = wait_job(port, request(port, "POST", "/api/jobs", {"kind": "synthesize", "params": synth})[1]["job"]["id"])
    assert job["state"] == "done", job
    files = sorted(o["path"].rsplit("/", 1)[1] for o in job["outputs"])
    assert files == ["sample_0.gif", "sample_0.mp4", "sample_1.gif", "sample_1.mp4"]
    assert len(job["info"]["seam"]) == 2
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/files/" + job["outputs"][0]["path"] + "?download=1")
    r = conn.getresponse()
    assert r.status == 200 and r.read()[:6] == b"GIF89a" and "attachment" in r.getheader("Content-Disposition")


def test_a_blended_recovery_reports_each_fills_share(studio, tmp_path):
    _, port = studio
    clip = request(port, "POST", "/api/demo", {"seed": 0})[1]["upload"]["path"]
    missing = np.zeros((12, 16, 16), bool)
    missing[[3, 4, 7], 4:12, 4:12] = True
    np.save(tmp_path / "m.npy", missing)
    mask = request(port, "POST", "/api/upload?name=m.npy", (tmp_path / "m.npy").read_bytes(), raw=True)[1]
    params = {"clip": clip, "size": "16", "frames": "12", "method": "hold", "mask_file": mask["upload"]["path"]}
    plain = wait_job(port, request(port, "POST", "/api/jobs", {"kind": "recover", "params": params})[1]["job"]["id"])
    params["blend"] = "cv"
    job = wait_job(port, request(port, "POST", "/api/jobs", {"kind": "recover", "params": params})[1]["job"]["id"])
    assert plain["state"] == job["state"] == "done", (plain, job)
    shares = dict(part.rsplit(" ", 1) for part in job["info"]["blend"].split(", "))
    assert "hold" in shares and abs(sum(map(float, shares.values())) - 1) < 0.1  # shares under 1% left out
    assert job["info"]["error"] < plain["info"]["error"]  # the ripples move smoothly: the blend beats the hold
    assert "blend" not in plain["info"]


def test_a_failing_job_says_why_and_keeps_what_was_there(studio, tmp_path):
    s, port = studio
    clip = request(port, "POST", "/api/demo", {"seed": 0})[1]["upload"]["path"]  # 60 frames
    params = {"clips": [clip], "preset": "demo", "size": "16", "frames": "90", "epochs": "2", "settings": TINY}
    job = wait_job(port, request(port, "POST", "/api/jobs", {"kind": "train", "params": params})[1]["job"]["id"])
    assert job["state"] == "failed" and "90" in job["message"] and "60" in job["message"], job
    assert (s.ws.root / clip).is_file()
