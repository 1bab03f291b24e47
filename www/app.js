// @ts-check
// The page: collects text, talks to the worker, renders results as text only.
import { setupDatasetView } from "./dataset.js";
import { $ } from "./dom.js";
import { ABORT, toWorker } from "./protocol.js";

const params = new URLSearchParams(location.search);
const device = params.get("device") || "auto";
// The weights' precision: int8 ("q8") unless this browser chose "full precision
// (f32)" (remembered), or `?dtype=` (q8, f16, f32) says otherwise for this visit.
const PRECISION_KEY = "pairrm-web:full-precision";
function rememberedFullPrecision() {
  try {
    return localStorage.getItem(PRECISION_KEY) === "1";
  } catch {
    return false; // storage blocked: the default
  }
}
let dtype = params.get("dtype") || (rememberedFullPrecision() ? "f32" : "q8");

let worker = null;
let nextId = 1;
let loaded = false;

/** The model URL from `?model=`: http(s) only; relative URLs resolve against the page. */
function parseModelUrl(text) {
  let url;
  try {
    url = new URL(text, location.href);
  } catch {
    throw new Error(`?model= is not a URL: ${text}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new Error(`?model= must be an http(s) URL, not ${url.protocol}`);
  }
  return url.href.endsWith("/") ? url.href : `${url.href}/`;
}

function formatBytes(n) {
  if (!n) return "0 B";
  const units = ["B", "KB", "MB", "GB"];
  const i = Math.min(units.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
  return `${(n / 1024 ** i).toFixed(i ? 1 : 0)} ${units[i]}`;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function addCandidate(text = "") {
  const list = $("candidates");
  const row = document.createElement("div");
  row.className = "candidate";
  const label = document.createElement("label");
  const area = document.createElement("textarea");
  area.rows = 3;
  area.value = text;
  area.className = "candidate-text";
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "remove";
  remove.textContent = "×";
  remove.title = "Remove this candidate";
  remove.addEventListener("click", () => {
    if (list.children.length > 2) {
      row.remove();
      renumber();
    }
  });
  row.append(label, area, remove);
  list.append(row);
  renumber();
}

function renumber() {
  const rows = [...$("candidates").children];
  rows.forEach((row, i) => {
    const label = row.querySelector("label");
    const area = row.querySelector("textarea");
    area.id = `candidate-${i + 1}`;
    label.htmlFor = area.id;
    label.textContent = `Candidate ${i + 1}`;
    /** @type {HTMLButtonElement} */ (row.querySelector(".remove")).disabled = rows.length <= 2;
  });
}

function heatColor(p) {
  // 0 → warm, 0.5 → neutral, 1 → cool.
  const hue = 10 + 200 * p;
  return `hsl(${hue}, 70%, ${92 - 40 * Math.abs(p - 0.5)}%)`;
}

/** A candidate as shown: a very long one is cut (the model reads only its start anyway). */
const PREVIEW_CHARS = 5000;
function preview(text) {
  return text.length <= PREVIEW_CHARS
    ? text
    : `${text.slice(0, PREVIEW_CHARS)}… (${(text.length - PREVIEW_CHARS).toLocaleString()} more characters)`;
}

function render(candidates, result, ms) {
  const order = candidates.map((_, i) => i).sort((a, b) => result.ranks[a] - result.ranks[b] || a - b);
  const list = $("ranking");
  list.replaceChildren();
  for (const i of order) {
    const item = document.createElement("li");
    item.className = "rank-item";
    const badge = document.createElement("span");
    badge.className = "rank";
    badge.textContent = `#${result.ranks[i]}`;
    const name = document.createElement("span");
    name.className = "cand-name";
    name.textContent = `Candidate ${i + 1}`;
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = `score ${result.scores[i].toFixed(4)}`;
    const text = document.createElement("p");
    text.className = "cand-text";
    text.textContent = preview(candidates[i]);
    item.append(badge, name, score, text);
    list.append(item);
  }
  const table = $("heatmap");
  table.replaceChildren();
  const head = document.createElement("tr");
  head.append(document.createElement("th"));
  candidates.forEach((_, j) => {
    const th = document.createElement("th");
    th.textContent = `${j + 1}`;
    th.scope = "col";
    head.append(th);
  });
  table.append(head);
  candidates.forEach((_, i) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = `${i + 1}`;
    th.scope = "row";
    tr.append(th);
    candidates.forEach((_, j) => {
      const td = document.createElement("td");
      const p = result.probabilities[i][j];
      td.textContent = i === j ? "—" : p.toFixed(3);
      td.dataset.p = String(p);
      td.dataset.logit = String(result.logits[i][j]);
      td.style.background = i === j ? "" : heatColor(p);
      td.title = i === j ? "" : `P(candidate ${i + 1} beats candidate ${j + 1}) = ${p.toFixed(4)}`;
      tr.append(td);
    });
    table.append(tr);
  });
  $("timing").textContent = `${candidates.length * (candidates.length - 1)} comparisons in ${(ms / 1000).toFixed(2)} s`;
  $("results").hidden = false;
}

/** @type {Map<import("./protocol.js").Id, (msg: import("./protocol.js").Answer) => void>} */
const pending = new Map();

/** A dead worker (a crash, out of memory): say so, fail what waited on it, offer a retry. */
function workerFailed(message) {
  loaded = false;
  for (const [id, done] of pending) {
    pending.delete(id);
    done({ type: "error", id, name: "Error", kind: "", message });
  }
  $("cancel").hidden = true;
  $("rank", HTMLButtonElement).disabled = true;
  $("rank").textContent = "Rank";
  $("progress").hidden = true;
  datasetView.modelReady();
  $("device-badge").textContent = "failed";
  showError(`The model stopped working: ${message}`);
  $("retry").hidden = false;
}

/** @param {MessageEvent<import("./protocol.js").FromWorker>} event */
function onWorkerMessage(event) {
  const msg = event.data;
  if (msg.type === "dataset-rows" || msg.type === "dataset-progress") {
    datasetView.onMessage(msg);
  } else if (msg.type === "rank-progress") {
    $("rank").textContent = `Ranking… ${msg.done}/${msg.total}`;
  } else if (msg.type === "progress") {
    $("progress").hidden = false;
    $("cancel").hidden = false;
    const total = msg.total || 0;
    $("progress-bar", HTMLProgressElement).max = total || 1;
    $("progress-bar", HTMLProgressElement).value = msg.loaded || 0;
    const phase = { download: "Downloading", cache: "Reading cache", convert: "Converting", upload: "Preparing model" }[msg.phase] || msg.phase;
    $("progress-text").textContent = `${phase}: ${formatBytes(msg.loaded)} / ${formatBytes(total)}`;
  } else if (msg.type === "loaded") {
    loaded = true;
    $("progress").hidden = true;
    $("cancel").hidden = true;
    const where = msg.device === "webgpu" ? "WebGPU" : msg.threads > 1 ? `CPU · ${msg.threads} threads` : "CPU";
    $("device-badge").textContent = msg.dtype ? `${where} · ${msg.dtype}` : where;
    $("device-badge").dataset.dtype = msg.dtype || "";
    $("device-badge").dataset.threads = String(msg.threads || 1);
    $("device-badge").dataset.device = msg.device;
    $("rank", HTMLButtonElement).disabled = false;
    datasetView.modelReady();
    if (msg.warnings && msg.warnings.length) {
      $("warning").textContent = [...new Set(msg.warnings)].join(" ");
      $("warning").hidden = false;
    }
    showCache(msg.cache);
  } else if (msg.type === "cache") {
    showCache(msg.cache);
  } else if (msg.type === "probed") {
    loadOrAsk(msg);
  } else if (msg.type === "result" || msg.type === "error") {
    const done = pending.get(msg.id);
    if (done) {
      pending.delete(msg.id);
      done(msg);
    } else if (msg.type === "error") {
      const cancelled = msg.name === ABORT;
      $("device-badge").textContent = cancelled ? "cancelled" : "failed";
      $("progress").hidden = true;
      $("cancel").hidden = true;
      showError(cancelled ? "Loading was cancelled." : `Could not load the model: ${msg.message}`);
      $("retry").hidden = false;
    }
  }
}

/** What the cache holds: its size, and a control to remove it. */
function showCache(info) {
  if (!info) return;
  $("cache").hidden = false;
  $("cache-size").textContent = info.models.length
    ? `Cached in this browser: ${formatBytes(info.usage)}`
    : "Nothing cached in this browser.";
  $("clear-cache", HTMLButtonElement).disabled = !info.models.length;
}

/**
 * The worker's answer to which model: load it when it is trusted (the page's
 * origin or the default's) or cached; else show where it comes from and its
 * size, and wait for a click.
 * @param {import("./protocol.js").Probed} probe
 */
function loadOrAsk({ url, trusted, size, cached }) {
  modelUrl = url;
  $("model-url").textContent = url;
  if (trusted || cached) {
    load(url);
    return;
  }
  $("device-badge").textContent = "waiting";
  $("confirm-text").textContent =
    `This page was opened with a model from ${new URL(url).origin}` +
    (size ? ` (${formatBytes(size)} to download).` : " (size unknown).") +
    " Download it and run it here?";
  $("confirm").hidden = false;
  $("confirm-download").onclick = () => {
    $("confirm").hidden = true;
    load(url);
  };
}

function startWorker() {
  worker?.terminate();
  worker = new Worker("worker.js", { type: "module" });
  worker.onmessage = onWorkerMessage;
  worker.onerror = (event) => {
    event.preventDefault();
    workerFailed(event.message || "the worker crashed");
  };
  worker.onmessageerror = () => workerFailed("a message from the worker could not be read");
}

function load(url) {
  $("device-badge").textContent = "loading…";
  toWorker(worker, { type: "load", url, device, dtype });
}

function start() {
  showError("");
  $("retry").hidden = true;
  $("confirm").hidden = true;
  let asked = null;
  try {
    asked = params.get("model") ? parseModelUrl(params.get("model")) : null;
  } catch (err) {
    $("device-badge").textContent = "failed";
    showError(err.message);
    return;
  }
  startWorker();
  // Which model (none asked: the package's default) and whether to ask first.
  toWorker(worker, { type: "probe", url: asked, device });
}

$("form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!loaded) return;
  const candidates = [.../** @type {NodeListOf<HTMLTextAreaElement>} */ (document.querySelectorAll(".candidate-text"))].map((a) => a.value);
  const instruction = $("instruction", HTMLTextAreaElement).value;
  showError("");
  const id = nextId++;
  $("rank", HTMLButtonElement).disabled = true;
  $("rank").textContent = "Ranking…";
  $("cancel").hidden = false;
  pending.set(id, (msg) => {
    $("rank", HTMLButtonElement).disabled = false;
    $("rank").textContent = "Rank";
    $("cancel").hidden = true;
    if (msg.type === "error") showError(msg.name === ABORT ? "Ranking was cancelled." : msg.message);
    else render(candidates, msg.result, msg.ms);
  });
  toWorker(worker, { type: "rank", id, instruction, input: $("input", HTMLTextAreaElement).value, candidates });
});

/**
 * Sends `msg` to the worker; resolves with its answer (`result` or `error`).
 * @param {import("./protocol.js").Request} msg
 * @returns {Promise<import("./protocol.js").Answer>}
 */
function request(msg) {
  const id = ("id" in msg ? msg.id : undefined) ?? nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    toWorker(worker, { device, ...msg, id });
  });
}

let modelUrl = "";
const datasetView = setupDatasetView({
  request,
  post: (msg) => toWorker(worker, msg),
  currentModel: () => modelUrl,
  isLoaded: () => loaded,
});

function showTab(name) {
  for (const tab of ["single", "dataset"]) {
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    $(`${tab}-view`).hidden = tab !== name;
  }
  if (location.hash !== `#${name}`) history.replaceState(null, "", name === "single" ? location.pathname + location.search : `#${name}`);
}
$("tab-single").addEventListener("click", () => showTab("single"));
$("tab-dataset").addEventListener("click", () => showTab("dataset"));
if (location.hash === "#dataset") showTab("dataset");

$("add").addEventListener("click", () => addCandidate());
$("retry").addEventListener("click", start);
$("cancel").addEventListener("click", () => toWorker(worker, { type: "cancel" }));
$("full-precision", HTMLInputElement).checked = dtype === "f32";
$("full-precision").addEventListener("change", (event) => {
  const full = $("full-precision", HTMLInputElement).checked;
  try {
    localStorage.setItem(PRECISION_KEY, full ? "1" : "0");
  } catch {
    // not remembered, but used for this visit
  }
  dtype = full ? "f32" : "q8";
  if (params.has("dtype")) {
    params.delete("dtype");
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? `?${query}` : "") + location.hash);
  }
  loaded = false;
  $("rank", HTMLButtonElement).disabled = true;
  start();
});
$("clear-cache").addEventListener("click", () => toWorker(worker, { type: "clear-cache", device }));
addCandidate();
addCandidate();

/**
 * The service worker (sw.js) keeps the page for offline use and, on hosts that
 * send no COOP/COEP, adds them, so that the CPU fallback can use threads. The
 * headers count only for pages loaded through it: on the first visit, once it
 * controls the page, reload once (before any model byte is fetched). Never
 * more than once per tab session, so a browser that ignores them cannot loop.
 */
async function serviceWorkerFirst() {
  if (!("serviceWorker" in navigator)) return;
  const reloadedKey = "pairrm-web:isolation-reload";
  let registration;
  try {
    registration = await navigator.serviceWorker.register("sw.js");
  } catch {
    return; // no service worker (private mode, file://): one thread, no offline copy
  }
  if (globalThis.crossOriginIsolated) return;
  let tried = false;
  try {
    tried = sessionStorage.getItem(reloadedKey) === "1";
  } catch {
    return; // cannot remember the reload: do not risk a loop
  }
  if (tried) return;
  const controlled = navigator.serviceWorker.controller
    ? Promise.resolve()
    : new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true }));
  // A worker that takes long to install: go on with one thread this time.
  const ready = await Promise.race([
    Promise.all([registration && navigator.serviceWorker.ready, controlled]).then(() => true),
    new Promise((resolve) => setTimeout(() => resolve(false), 10_000)),
  ]);
  if (!ready) return;
  sessionStorage.setItem(reloadedKey, "1");
  location.reload();
  await new Promise(() => {}); // the page is going away
}

serviceWorkerFirst().finally(start);
