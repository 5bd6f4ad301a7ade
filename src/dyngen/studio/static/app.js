// dyngen studio: the page. Everything it shows comes from /api/state, polled; every action is a POST that the
// server checks and turns into a job (dyngen/studio/server.py). No library, no request outside this server.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
};
const file = (path) => "/files/" + path.split("/").map(encodeURIComponent).join("/");

let state = null;
const signatures = new Map(); // select -> the options it was built from (rebuilt only when they change)

async function api(url, body, type = "application/json") {
  const init = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": type}, body: type === "application/json" ? JSON.stringify(body) : body,
  };
  const response = await fetch(url, init);
  const data = await response.json().catch(() => ({error: `${response.status} ${response.statusText}`}));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

// ------------------------------------------------------------------------------------------------ pages

function showPage() {
  const name = (location.hash || "#clip").slice(1);
  for (const p of $$(".page")) p.classList.toggle("active", p.id === "page-" + name);
  for (const a of $$("#tabs a")) a.classList.toggle("active", a.getAttribute("href") === "#" + name);
  if (name === "recover") loadMaskFrame();
}
window.addEventListener("hashchange", showPage);

// ------------------------------------------------------------------------------------------------ state

async function refresh() {
  try {
    state = await api("/api/state");
  } catch (e) {
    $("#where").textContent = "the studio is not answering: " + e.message;
    return;
  }
  $("#where").textContent = `workspace ${state.workspace} · dyngen ${state.version}`;
  $("#upload-limit").textContent = `at most ${state.max_upload_mb} MB`;
  fillSelects();
  renderJobs();
  for (const box of $$(".live")) renderLive(box);
  for (const box of $$(".results")) renderResults(box);
}

function setOptions(select, options, keep = true) {
  const sig = JSON.stringify(options);
  if (signatures.get(select) === sig) return;
  signatures.set(select, sig);
  const old = select.value;
  select.replaceChildren(...options.map(([value, label]) => el("option", {value}, label)));
  const wanted = select.dataset.wanted;
  if (wanted && options.some(([v]) => v === wanted)) { select.value = wanted; delete select.dataset.wanted; }
  else if (keep && options.some(([v]) => v === old)) select.value = old;
  select.dispatchEvent(new Event("change"));
}

function fillSelects() {
  for (const s of $$("select[data-presets]")) {
    if (!s.options.length) s.dataset.wanted = s.dataset.presets;
    setOptions(s, state.presets.map((p) => [p, p]));
  }
  for (const s of $$("select[data-methods]")) {
    if (!s.options.length) s.dataset.wanted = s.dataset.methods;
    setOptions(s, state.methods.map((m) => [m, m]));
  }
  for (const s of $$("select[data-runs]")) {
    const want = s.dataset.runs;
    const runs = state.runs.filter((r) => !r.error && (want === "any" || (want === "dg" && r.model_type === "dg")
      || (want === "appearance" && r.appearance_dim > 0)));
    setOptions(s, runs.map((r) => [r.path, `${r.name} (${r.model_type}, ${r.epoch}${r.epochs ? "/" + r.epochs : ""} epochs)`]));
  }
  const kinds = (s) => s.dataset.uploads.split(" ");
  for (const s of $$("select[data-uploads]")) {
    const ups = state.uploads.filter((u) => kinds(s).includes(u.kind) || kinds(s).includes("mask")); // a mask can be any
    const empty = s.dataset.empty ? [["", s.dataset.empty]] : [];
    setOptions(s, empty.concat(ups.map((u) => [u.path, `${u.name} (${u.kind}, ${u.height}x${u.width})`])));
  }
  setOptions($("#clip-select"), state.uploads.map((u) => [u.path, `${u.name} (${u.kind})`]));
  const boxes = $("#train-clips");
  const videos = state.uploads.filter((u) => u.kind !== "mask");
  const sig = JSON.stringify(videos.map((u) => u.path));
  if (signatures.get(boxes) !== sig) {
    const checked = new Set($$("input:checked", boxes).map((i) => i.value));
    if (!checked.size && videos.length) checked.add($("#clip-select").value || videos[0].path);
    signatures.set(boxes, sig);
    boxes.replaceChildren(...videos.map((u) => el("label", {}, Object.assign(
      el("input", {type: "checkbox", value: u.path}), {checked: checked.has(u.path)}), u.name)));
  }
  for (const s of $$("select[data-names]")) {
    const run = state.runs.find((r) => r.path === $("select[name=run]", s.form).value);
    setOptions(s, (run ? run.names : []).map((n) => [n, n]), true);
    if (s.name === "end" && s.selectedIndex === 0 && s.options.length > 1) s.selectedIndex = 1;
  }
}

// ------------------------------------------------------------------------------------------------ clips

async function upload(input) {
  const f = input.files[0];
  input.value = "";
  if (!f) return;
  $("#clip-error").textContent = "";
  if (f.size > state.max_upload_mb * 2 ** 20) {
    $("#clip-error").textContent = `the upload is ${(f.size / 2 ** 20).toFixed(1)} MB; this studio takes at most ${state.max_upload_mb} MB`;
    return;
  }
  try {
    const r = await api("/api/upload?name=" + encodeURIComponent(f.name), f, "application/octet-stream");
    $("#clip-select").dataset.wanted = r.upload.path;
    await refresh();
  } catch (e) { $("#clip-error").textContent = e.message; }
}

async function showClip() {
  const path = $("#clip-select").value;
  const view = $("#clip-view");
  if (!path) { view.replaceChildren(el("p", {class: "small"}, "No clip yet: upload one, or use the demo texture.")); return; }
  try {
    const info = await api("/api/preview?clip=" + encodeURIComponent(path));
    view.replaceChildren(el("img", {src: file(info.preview), alt: info.name, id: "clip-preview"}),
      el("p", {}, `${info.name}: ${info.kind}, ${info.frames ?? "?"} frames of ${info.height}x${info.width}`));
  } catch (e) { view.replaceChildren(el("p", {class: "error"}, e.message)); }
}

// ------------------------------------------------------------------------------------------------ jobs

function progressText(job) {
  const last = job.records[job.records.length - 1];
  const parts = [];
  if (job.epochs) parts.push(`epoch ${job.epoch} / ${job.epochs}`);
  if (last && last.psnr !== undefined) parts.push(`PSNR ${last.psnr.toFixed(2)} dB`);
  if (last && last.loss !== undefined) parts.push(`loss ${last.loss.toPrecision(4)}`);
  return parts.join(" · ");
}

function bar(job) {
  const done = job.state === "done" ? 1 : job.epochs ? job.epoch / job.epochs : job.state === "running" ? 0.5 : 0;
  const inner = el("div");
  inner.style.width = `${Math.round(100 * done)}%`;
  return el("div", {class: "bar", role: "progressbar", "aria-valuenow": String(Math.round(100 * done))}, inner);
}

function stopButton(job) {
  if (!["queued", "running"].includes(job.state)) return "";
  const label = job.state === "queued" ? "Cancel" : job.stopping ? "Stopping..." : "Stop";
  return el("button", {class: "secondary stop", onclick: () => api(`/api/jobs/${job.id}/stop`, {}).then(refresh)}, label);
}

function links(job) {
  return job.outputs.map((o) => el("a", {href: file(o.path) + (o.role === "report" ? "" : "?download=1"),
    target: o.role === "report" ? "_blank" : "_self"}, o.role === "report" ? "open report" : o.path.split("/").pop()));
}

function renderJobs() {
  const box = $("#jobs");
  if (!state.jobs.length) { box.replaceChildren(el("p", {class: "small"}, "No jobs yet.")); return; }
  box.replaceChildren(...state.jobs.slice(0, 12).map((job) => el("div", {class: "job", "data-job": String(job.id)},
    el("div", {}, el("span", {class: "state " + job.state}, job.state), el("span", {class: "title"}, job.title)),
    job.state === "running" || job.epochs ? bar(job) : "",
    el("div", {class: "small"}, progressText(job)),
    job.message ? el("div", {class: "error"}, "error: " + job.message) : "",
    ...job.notes.map((n) => el("div", {class: "small"}, "warning: " + n)),
    el("div", {}, ...links(job)), stopButton(job))));
}

function latest(kinds) {
  return state.jobs.find((j) => kinds.includes(j.kind));
}

function drawCurve(canvas, records) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 28;
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px system-ui, sans-serif";
  if (records.length < 1) { ctx.fillStyle = "#667085"; ctx.fillText("the curve appears after the first epoch", pad, h / 2); return; }
  const series = [["psnr", "#2f6fde", "PSNR (dB)", (v) => v], ["loss", "#e8590c", "loss (log)", (v) => Math.log10(Math.max(v, 1e-12))]];
  const x0 = records[0].epoch, x1 = Math.max(records[records.length - 1].epoch, x0 + 1);
  series.forEach(([key, color, label, f], i) => {
    const ys = records.map((r) => f(r[key])).filter(Number.isFinite);
    if (!ys.length) return;
    const lo = Math.min(...ys), hi = Math.max(...ys, lo + 1e-9);
    ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.beginPath();
    records.forEach((r, k) => {
      const x = pad + (w - 2 * pad) * (r.epoch - x0) / (x1 - x0);
      const y = h - pad - (h - 2 * pad) * (f(r[key]) - lo) / (hi - lo);
      k ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = color;
    ctx.fillText(`${label}: ${records[records.length - 1][key].toPrecision(4)}`, pad + i * 170, 14);
  });
  ctx.fillStyle = "#667085";
  ctx.fillText(`epoch ${x0}`, pad, h - 8);
  ctx.fillText(`epoch ${x1}`, w - pad - 50, h - 8);
}

function renderLive(box) {
  const job = latest(box.dataset.kinds.split(" "));
  if (!job || !job.run) { box.replaceChildren(); return; }
  let canvas = $("canvas", box);
  if (!canvas || box.dataset.job !== String(job.id)) {
    canvas = el("canvas", {width: "640", height: "180", class: "curve"});
    box.dataset.job = String(job.id);
    box.replaceChildren(el("h3", {}, job.title), el("div", {class: "status"}), bar(job), canvas, el("div", {class: "controls"}),
      el("div", {class: "shot"}));
  }
  $(".status", box).replaceChildren(el("span", {class: "state " + job.state}, job.state), progressText(job),
    job.message ? el("span", {class: "error"}, " error: " + job.message) : "");
  $(".bar", box).replaceWith(bar(job));
  drawCurve(canvas, job.records);
  const controls = [stopButton(job)];
  if (["stopped", "failed"].includes(job.state) && job.kind !== "recover") {
    controls.push(el("button", {class: "secondary resume", onclick: () => api("/api/jobs",
      {kind: "resume", params: {run: job.run}}).then(refresh)}, "Resume"));
  }
  $(".controls", box).replaceChildren(...controls);
  const run = state.runs.find((r) => r.path === job.run);
  const shot = $(".shot", box);
  const src = run && run.preview ? file(run.preview) : null;
  if (src && shot.dataset.src !== src) {
    shot.dataset.src = src;
    shot.replaceChildren(el("img", {src, class: "preview", alt: "preview: observed | reconstructed | synthesized"}));
  }
}

function enlarge(event) {
  // pixels stay pixels: a whole zoom that brings the shorter side to 256 px, within 900 x 1200 px
  const img = event.target, w = img.naturalWidth, h = img.naturalHeight;
  const zoom = Math.max(1, Math.min(Math.floor(256 / Math.min(w, h)), Math.floor(900 / w), Math.floor(1200 / h)));
  img.style.width = `${w * zoom}px`;
  img.style.height = `${h * zoom}px`;
}

function renderResults(box) {
  const job = latest(box.dataset.kinds.split(" "));
  if (!job) { box.replaceChildren(); return; }
  const key = `${job.id}:${job.state}:${job.outputs.length}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  const parts = [el("h3", {}, job.title), el("div", {}, el("span", {class: "state " + job.state}, job.state))];
  if (job.message) parts.push(el("p", {class: "error"}, "error: " + job.message));
  for (const o of job.outputs.filter((o) => o.role === "video")) {
    const mp4 = job.outputs.find((d) => d.role === "download" && d.path === o.path.replace(/\.gif$/, ".mp4"));
    parts.push(el("figure", {}, el("img", {src: file(o.path), alt: o.label, onload: enlarge}), el("figcaption", {}, o.label, " · ",
      el("a", {href: file(o.path) + "?download=1"}, "gif"), " ", mp4 ? el("a", {href: file(mp4.path) + "?download=1"}, "mp4") : "")));
  }
  for (const o of job.outputs.filter((o) => o.role === "report")) {
    parts.push(el("p", {}, el("a", {href: file(o.path), target: "_blank"}, "Open the report in a new tab")),
      el("iframe", {src: file(o.path), title: "report", sandbox: ""}));
  }
  const other = job.outputs.filter((o) => o.role === "download" && !o.path.endsWith(".mp4"));
  if (other.length) parts.push(el("p", {}, ...other.map((o) => el("a", {href: file(o.path) + "?download=1"}, o.label))));
  const info = Object.entries(job.info).map(([k, v]) => `${k.replace(/_/g, " ")}: ${Array.isArray(v) ? v.join(", ") : v}`);
  if (info.length) parts.push(el("p", {class: "small info"}, info.join(" · ")));
  box.replaceChildren(...parts);
}

// ------------------------------------------------------------------------------------------------ forms

function params(form) {
  const out = {};
  for (const e of form.elements) {
    if (!e.name) continue;
    if (e.type === "checkbox") out[e.name] = e.checked;
    else if (e.value !== "") out[e.name] = e.value;
  }
  return out;
}

function submitter(kind, build = params) {
  const form = $(`#${kind}-form`);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $(`#${kind}-error`);
    error.textContent = "";
    try {
      const p = build(form);
      await api("/api/jobs", {kind: kind === "resume" ? "resume" : kind, params: p});
      await refresh();
    } catch (e) { error.textContent = e.message; }
  });
}

// ------------------------------------------------------------------------------------------------ the mask brush

const mask = {drawn: false, last: null, key: ""};

function loadMaskFrame() {
  const form = $("#recover-form");
  const clip = form.elements.clip.value;
  if (!clip) return;
  const size = form.elements.size.value || "64", crop = form.elements.crop.value;
  const key = `${clip}|${size}|${crop}`;
  if (key !== mask.key) { mask.key = key; clearMask(); }
  const img = $("#mask-image");
  const src = `/api/frame?clip=${encodeURIComponent(clip)}&size=${encodeURIComponent(size)}&crop=${crop}&index=${$("#mask-frame").value || 0}`;
  if (img.dataset.src !== src) { img.dataset.src = src; img.src = src; }
}

function fitCanvas() {
  const img = $("#mask-image"), canvas = $("#mask-canvas");
  const scale = Math.max(1, Math.floor(384 / Math.max(img.naturalWidth, img.naturalHeight)));
  const w = img.naturalWidth * scale, h = img.naturalHeight * scale;
  img.style.width = `${w}px`; img.style.height = `${h}px`;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; mask.drawn = false; }
}

function clearMask() {
  const canvas = $("#mask-canvas");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  mask.drawn = false;
}

function paint(event) {
  const canvas = $("#mask-canvas");
  const r = canvas.getBoundingClientRect();
  const p = {x: (event.clientX - r.left) * canvas.width / r.width, y: (event.clientY - r.top) * canvas.height / r.height};
  const ctx = canvas.getContext("2d");
  ctx.strokeStyle = ctx.fillStyle = "rgb(255, 0, 140)"; // opaque strokes; the canvas itself is translucent
  ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.lineWidth = 2 * $("#brush").value;
  ctx.beginPath();
  if (mask.last) { ctx.moveTo(mask.last.x, mask.last.y); ctx.lineTo(p.x, p.y); ctx.stroke(); }
  else { ctx.arc(p.x, p.y, $("#brush").value, 0, 2 * Math.PI); ctx.fill(); }
  mask.last = p;
  mask.drawn = true;
}

function setupMask() {
  const canvas = $("#mask-canvas");
  $("#mask-image").addEventListener("load", fitCanvas);
  canvas.addEventListener("pointerdown", (e) => { canvas.setPointerCapture(e.pointerId); mask.last = null; paint(e); });
  canvas.addEventListener("pointermove", (e) => { if (mask.last) paint(e); });
  const end = () => { mask.last = null; };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  $("#mask-clear").addEventListener("click", clearMask);
  $("#mask-frame").addEventListener("change", loadMaskFrame);
  const form = $("#recover-form");
  form.elements.clip.addEventListener("change", () => { if (location.hash === "#recover") loadMaskFrame(); });
  form.elements.size.addEventListener("change", loadMaskFrame);
  form.elements.crop.addEventListener("change", loadMaskFrame);  // the frame drawn on is cut as the clip will be
  form.elements.frames.addEventListener("change", () => { form.elements.mask_to.value = Math.max(0, form.elements.frames.value - 1); });
}

// ------------------------------------------------------------------------------------------------ start

function start() {
  $("#upload-file").addEventListener("change", (e) => upload(e.target));
  $("#demo").addEventListener("click", async () => {
    $("#clip-error").textContent = "";
    try {
      const r = await api("/api/demo", {seed: 0});
      $("#clip-select").dataset.wanted = r.upload.path;
      await refresh();
    } catch (e) { $("#clip-error").textContent = e.message; }
  });
  $("#clip-select").addEventListener("change", showClip);
  submitter("train", (form) => {
    const p = params(form);
    p.clips = $$("#train-clips input:checked").map((i) => i.value);
    if (p.tensorboard) p.settings = `${p.settings || ""} log=tensorboard`;
    delete p.tensorboard;
    return p;
  });
  submitter("resume");
  submitter("synthesize");
  submitter("recover", (form) => {
    const p = params(form);
    if (!p.mask_file) {
      if (!mask.drawn) throw new Error("paint the mask on the frame first (or choose a mask file)");
      p.mask = $("#mask-canvas").toDataURL("image/png");
    }
    return p;
  });
  submitter("animate");
  submitter("interpolate");
  submitter("report");
  for (const s of $$("select[data-runs='appearance']")) s.addEventListener("change", () => state && fillSelects());
  setupMask();
  showPage();
  refresh();
  const poll = () => setTimeout(async () => {
    await refresh();
    poll();
  }, state && state.jobs.some((j) => ["queued", "running"].includes(j.state)) ? 1000 : 2500);
  poll();
}

document.addEventListener("DOMContentLoaded", start);
