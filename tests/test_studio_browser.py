"""The studio in a real browser: headless Chromium (the system's, driven by Playwright) opens the demo clip,
trains a tiny model (a second tab sees it; stop, resume), synthesizes a loop, paints a mask stroke and
recovers, animates a still, interpolates, and opens the report; every screenshot must show something, and
every request the page makes must go to the studio on 127.0.0.1, with outside names unresolvable (network off).

Needs ``pip install -e '.[browser]'`` and Chromium (Debian: ``apt-get install chromium``); skipped without them
(failed, with ``DYNGEN_REQUIRE_BROWSER=1`` as in .ci/run). ``DYNGEN_STUDIO_SHOTS=DIR`` keeps the screenshots.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image
from test_studio import request, studio, wait_job  # noqa: F401 (studio is a fixture)

from dyngen.algorithms.blend import CONSENSUS
from dyngen.tasks.recover import CLASSIC

pytestmark = pytest.mark.slow
CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and Path(p).exists()), None)  # fmt: skip
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]  # fmt: skip
TINY = "state_dim=4 noise_dim=3 base_channels=8 max_channels=16 window=6 langevin_steps=1 learn_steps=1"


def _missing(reason: str) -> None:
    """Skip, or fail where CI requires the browser test to run (``DYNGEN_REQUIRE_BROWSER``, set by .ci/run)."""
    (pytest.fail if os.environ.get("DYNGEN_REQUIRE_BROWSER") else pytest.skip)(reason)


@pytest.fixture
def browser(tmp_path):
    try:
        from playwright import sync_api
    except ImportError:
        _missing("playwright is not installed: pip install -e '.[browser]'")
    if CHROMIUM is None:
        _missing("no Chromium found (chromium on PATH or /usr/bin/chromium): apt-get install chromium")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM,
                                                       headless=True, args=ARGS, viewport={"width": 1400,
                                                                                           "height": 1000})  # fmt: skip
        requests: list[str] = []
        problems: list[str] = []
        context.on("request", lambda r: requests.append(r.url))
        yield context, requests, problems
        context.close()


def shot(page, tmp_path, name: str) -> Path:
    """A full-page screenshot that must not be blank: many colours, not one flat tone."""
    path = tmp_path / "shots" / f"{name}.png"
    path.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    pixels = np.asarray(Image.open(path).convert("RGB"))
    assert pixels.std() > 10 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200, f"{name} looks blank"
    if os.environ.get("DYNGEN_STUDIO_SHOTS"):
        keep = Path(os.environ["DYNGEN_STUDIO_SHOTS"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, keep / path.name)
    return path


def not_flat(locator) -> None:
    """An element (an image, a canvas) shows more than one colour."""
    data = np.asarray(Image.open(__import__("io").BytesIO(locator.screenshot())).convert("RGB"))
    assert data.std() > 5, "the element is blank"


def loaded(page, selector: str) -> None:
    page.wait_for_function(f"() => {{ const i = document.querySelector({selector!r}); "
                           "return i && i.complete && i.naturalWidth > 0; }")  # fmt: skip


def open_page(page, port: int, name: str) -> None:
    page.click(f"#tabs a[href='#{name}']")
    page.wait_for_selector(f"#page-{name}.active")


def latest_job(port: int) -> dict:
    return request(port, "GET", "/api/state")[1]["jobs"][0]


def test_the_studio_in_chromium(browser, studio, tmp_path):  # noqa: F811
    context, requests, problems = browser
    s, port = studio
    url = f"http://127.0.0.1:{port}/"
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.goto(url + "#clip")

    # open the demo clip and see it
    page.click("#demo")
    loaded(page, "#clip-preview")
    not_flat(page.locator("#clip-preview"))
    shot(page, tmp_path, "1-clip")

    # train a tiny model: live progress, a second tab sees the job, stop, resume
    open_page(page, port, "train")
    form = "#train-form"
    page.select_option(f"{form} [name=preset]", "demo")
    for name, value in {"size": "16", "frames": "12", "epochs": "8", "settings": TINY + " preview_every=2"}.items():
        page.fill(f"{form} [name={name}]", value)
    assert page.is_checked("#train-clips input")  # the clip just opened
    page.click(f"{form} button[type=submit]")
    job = wait_job(port, 1, states=("running", "done", "failed"))
    other = context.new_page()
    other.goto(url + "#train")
    other.wait_for_selector(".job[data-job='1']")  # a second tab sees the running job
    other.close()
    while latest_job(port)["epoch"] < 2 and latest_job(port)["state"] == "running":
        time.sleep(0.05)
    page.click(".live button.stop")
    job = wait_job(port, 1)
    assert job["state"] == "stopped" and job["epoch"] < 8, job
    page.wait_for_selector(".live button.resume")
    page.click(".live button.resume")
    job = wait_job(port, 2)
    assert job["kind"] == "resume" and job["state"] == "done" and job["epoch"] == 8, job
    page.wait_for_selector(".live .state.done")
    loaded(page, ".live img.preview")
    not_flat(page.locator(".live canvas"))
    shot(page, tmp_path, "2-train")
    run = s.ws.root / job["run"]
    assert (run / "checkpoint.safetensors").is_file() and len(list((run / "previews").glob("*.png"))) >= 3

    # synthesize a seamless loop, and download it
    open_page(page, port, "synthesize")
    page.fill("#synthesize-form [name=frames]", "24")
    page.check("#synthesize-form [name=loop]")
    page.click("#synthesize-form button[type=submit]")
    assert wait_job(port, 3)["state"] == "done"
    page.wait_for_selector(".results[data-kinds=synthesize] .state.done")
    loaded(page, ".results[data-kinds=synthesize] img")
    assert "seam" in page.inner_text(".results[data-kinds=synthesize] .info")
    with page.expect_download() as download:
        page.click(".results[data-kinds=synthesize] a:text('mp4')")
    assert download.value.suggested_filename == "sample_0.mp4"
    shot(page, tmp_path, "3-synthesize")
    assert (s.ws.root / "outputs" / "0003-synthesize" / "sample_0.gif").is_file()

    # paint a mask stroke over frames 2..9 and recover with the dynamic generator, blended by cross-validation
    open_page(page, port, "recover")
    form = "#recover-form"
    for name, value in {"size": "16", "frames": "12", "epochs": "3", "settings": TINY, "mask_from": "2",
                        "mask_to": "9"}.items():  # fmt: skip
        page.fill(f"{form} [name={name}]", value)
    page.locator(f"{form} [name=size]").dispatch_event("change")
    page.select_option(f"{form} [name=crop]", "center")  # the frame drawn on is read as the clip will be
    page.select_option(f"{form} [name=blend]", "cv")
    loaded(page, "#mask-image")
    assert "crop=center" in page.get_attribute("#mask-image", "src")
    box = page.locator("#mask-canvas").bounding_box()
    assert box["width"] >= 300  # the 16x16 frame, enlarged to draw on
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.5 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.5 * box["height"], steps=8)
    page.mouse.up()
    page.click(f"{form} button[type=submit]")
    job = wait_job(port, 4)
    assert job["state"] == "done" and job["kind"] == "recover", job["message"]
    assert job["info"]["error"] >= 0 and 0 < job["info"]["hidden_fraction"] < 0.5
    shares = dict(part.rsplit(" ", 1) for part in job["info"]["blend"].split(", "))  # cross-validated
    assert set(shares) <= {"dg", *CLASSIC, CONSENSUS} and abs(sum(map(float, shares.values())) - 1) < 0.1
    folder = s.ws.root / "outputs" / "0004-recover"
    mask = np.load(folder / "mask.npy")
    assert mask.shape == (12, 16, 16) and not mask[:2].any() and not mask[10:].any()
    assert (mask[2:10] == mask[2]).all() and mask[2, 8, 3:13].all() and not mask[2, :4].any()  # a horizontal stroke
    for name in ("compare.gif", "compare.mp4", "result.gif", "result.mp4"):
        assert (folder / name).stat().st_size > 0
    page.wait_for_selector(".results[data-kinds=recover] .state.done")
    loaded(page, ".results[data-kinds=recover] img")
    shot(page, tmp_path, "4-recover")

    # a model with appearance vectors (two demo clips): animate a still, interpolate
    second = request(port, "POST", "/api/demo", {"seed": 1})[1]["upload"]["path"]
    params = {"clips": ["uploads/ripples-seed0.npy", second], "preset": "demo", "size": "16", "frames": "12",
              "epochs": "4", "name": "two", "settings": TINY + " appearance_dim=2"}  # fmt: skip
    wait_job(port, request(port, "POST", "/api/jobs", {"kind": "train", "params": params})[1]["job"]["id"])
    open_page(page, port, "animate")
    page.wait_for_selector("#animate-form [name=run] option[value='runs/two']", state="attached")
    page.select_option("#animate-form [name=run]", "runs/two")
    page.fill("#animate-form [name=frames]", "12")
    page.click("#animate-form button[type=submit]")
    assert wait_job(port, 6)["state"] == "done"
    page.wait_for_selector(".results[data-kinds=animate] .state.done")
    loaded(page, ".results[data-kinds=animate] img")
    shot(page, tmp_path, "5-animate")
    open_page(page, port, "interpolate")
    page.select_option("#interpolate-form [name=run]", "runs/two")
    page.fill("#interpolate-form [name=frames]", "12")
    assert page.input_value("#interpolate-form [name=start]") != page.input_value("#interpolate-form [name=end]")
    page.click("#interpolate-form button[type=submit]")
    assert wait_job(port, 7)["state"] == "done"
    page.wait_for_selector(".results[data-kinds=interpolate] .state.done")
    loaded(page, ".results[data-kinds=interpolate] img")
    shot(page, tmp_path, "6-interpolate")

    # the report, inside the page
    open_page(page, port, "report")
    page.select_option("#report-form [name=run]", "runs/ripples-seed0")
    page.fill("#report-form [name=frames]", "24")
    page.click("#report-form button[type=submit]")
    assert wait_job(port, 8)["state"] == "done"
    page.wait_for_selector(".results[data-kinds=report] iframe")
    page.frame_locator(".results[data-kinds=report] iframe").locator("h1").wait_for()
    shot(page, tmp_path, "7-report")

    assert problems == [], problems  # no script error, no failed request

    # a refusal shows in the page, at its form, as the CLI would say it; nothing is queued
    open_page(page, port, "train")
    page.fill("#train-form [name=settings]", "depth=3")
    page.click("#train-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#train-error').textContent.includes('unknown setting')")
    assert latest_job(port)["id"] == 8
    shot(page, tmp_path, "8-refusal")

    outside = [u for u in requests if not u.startswith(("data:", "blob:")) and urlsplit(u).hostname != "127.0.0.1"]
    assert len(requests) > 20 and outside == [], outside
