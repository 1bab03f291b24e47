// @ts-check
// The Dataset view: a file of pairs or rankings scored in the worker, results
// saved as they arrive (runs.js), shown as a summary, a histogram and a
// sortable table, downloadable as JSONL and CSV. Text is only ever set as
// textContent: outputs holding markup stay text.
import { saveRun, saveResults, loadRun, discardRun } from "./runs.js";

import { $ } from "./dom.js";
import { ABORT } from "./protocol.js";
const SHOWN_CHARS = 160;
/** Rows the table shows (after sorting); the downloads hold them all. */
const SHOWN_ROWS = 500;
/** During a run the results are redrawn at most this often (ms). */
const REDRAW_MS = 1500;

/** A row's text cut for the table; the full text is in the downloads. */
function cut(text) {
  return text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}…` : text;
}

function percent(x) {
  return `${(100 * x).toFixed(1)}%`;
}

function duration(seconds) {
  if (!Number.isFinite(seconds)) return "…";
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min ${Math.round(seconds % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

/** One CSV field (RFC 4180). */
function csvField(v) {
  const s = v === null || v === undefined ? "" : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function download(name, type, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/**
 * The dataset tab, driven by the page's worker.
 * @param {object} page
 * @param {(msg: import("./protocol.js").Request) => Promise<import("./protocol.js").Answer>} page.request
 * @param {(msg: import("./protocol.js").ToWorker) => void} page.post
 * @param {() => string} page.currentModel
 * @param {() => boolean} page.isLoaded
 */
export function setupDatasetView({ request, post, currentModel, isLoaded }) {
  /** The parsed file ({format, description, kind, rows, lines, errors, generators, name}) and its run. */
  let dataset = null;
  let results = [];
  let options = { tieBand: 0, seed: 0 };
  let summary = null;
  let running = null; // {id, started, doneAtStart}
  let savedModel = null;
  let sort = { column: 0, descending: false };
  let lastDrawn = 0;
  /** The results' saves, one after another: a run ends only when they have all committed. */
  let saving = Promise.resolve();
  /** The texts of the files last read: AlpacaEval's A and B can be swapped. */
  let lastFiles = [];

  const done = () => results.filter(Boolean).length;

  function showErrors(messages) {
    const box = $("dataset-errors");
    box.replaceChildren();
    for (const m of messages.slice(0, 8)) box.append(el("div", m));
    if (messages.length > 8) box.append(el("div", `… and ${messages.length - 8} more`));
    box.hidden = !messages.length;
  }

  function updateControls() {
    const total = dataset ? dataset.rows.length : 0;
    const partial = dataset && done() > 0 && done() < total;
    const sameModel = !savedModel || !currentModel() || savedModel === currentModel();
    $("dataset-run", HTMLButtonElement).disabled = !dataset || !total || !!running || !isLoaded() || (done() === total) || !sameModel;
    $("dataset-run").textContent = partial ? `Resume (${done()}/${total} done)` : "Run";
    $("dataset-cancel").hidden = !running;
    $("dataset-discard").hidden = !dataset || !!running;
    $("tie-band", HTMLInputElement).disabled = $("seed", HTMLInputElement).disabled = !!running || partial;
    $("dataset-file", HTMLInputElement).disabled = !!running;
    $("dataset-swap").hidden = !dataset || dataset.format !== "alpaca-eval" || !!running || done() > 0
      || lastFiles.length !== 2;
    if (dataset && !sameModel) {
      showErrors([`This run was made with the model at ${savedModel}; this page has ${currentModel()}. Discard it to start over.`]);
    }
  }

  function showInfo() {
    const info = $("dataset-info");
    if (!dataset) {
      info.hidden = true;
      return;
    }
    const names = dataset.names.join(" (A) and ") + (dataset.names.length === 2 ? " (B)" : "");
    const gens = dataset.generators && dataset.generators.some(Boolean)
      ? ` · A = ${dataset.generators[0] ?? "?"}, B = ${dataset.generators[1] ?? "?"}` : "";
    info.textContent = `${names}: ${dataset.description}, ${dataset.rows.length} rows${gens}` +
      (dataset.errors.length ? ` · ${dataset.errors.length} unreadable` : "");
    info.dataset.format = dataset.format;
    info.dataset.rows = String(dataset.rows.length);
    info.hidden = false;
  }

  async function summarize() {
    const rows = results.filter(Boolean);
    const msg = await request({ type: "dataset-summary", kind: dataset.kind, rows, ...options });
    summary = msg.type === "error" ? null : msg.result;
  }

  function renderSummary() {
    const s = summary;
    const box = $("summary");
    box.replaceChildren();
    box.dataset.json = s ? JSON.stringify(s) : "";
    if (!s) return;
    const of = s.n < dataset.rows.length ? ` (${s.n} of ${dataset.rows.length} rows so far)` : "";
    if (dataset.kind === "pairs") {
      $("summary-title").textContent = "Win rate of A over B";
      if (s.win_rate === null) {
        box.append(el("span", "No rows scored yet."));
        return;
      }
      box.append(el("strong", percent(s.win_rate), "win-rate"));
      box.append(el("span", ` 95% CI [${percent(s.ci[0])}, ${percent(s.ci[1])}]${of}`));
      box.append(el("br"));
      box.append(el("span", `${s.wins} wins, ${s.losses} losses, ${s.ties} ties over ${s.n} rows · ` +
        `mean length A ${s.mean_tokens_a.toFixed(1)}, B ${s.mean_tokens_b.toFixed(1)} tokens · ` +
        `${s.truncated} rows cut by the max lengths`));
    } else {
      $("summary-title").textContent = "Rankings";
      box.append(el("span", `${s.n} prompts ranked${of} · ${s.truncated} cut by the max lengths`));
      s.mean_rank.forEach((r, k) => box.append(el("div",
        `Candidate ${k + 1}: mean rank ${r.toFixed(2)}, ranked first ${s.firsts[k]} times`)));
    }
  }

  function renderHistogram() {
    const bins = new Array(10).fill(0);
    for (const r of results) if (r) bins[Math.min(9, Math.floor(r.probability * 10))] += 1;
    const max = Math.max(1, ...bins);
    const box = $("histogram");
    box.replaceChildren();
    bins.forEach((count, k) => {
      const bar = el("div", undefined, "bar");
      bar.style.height = `${(100 * count) / max}%`;
      bar.title = `${count} rows with P(A beats B) in [${(k / 10).toFixed(1)}, ${((k + 1) / 10).toFixed(1)})`;
      bar.dataset.count = String(count);
      bar.append(el("span", String(count)));
      box.append(bar);
    });
  }

  /**
   * Table columns: header, value of row k for sorting, cell text, cell class.
   * @typedef {[string, (k: number) => any, (k: number) => string, string?]} Column
   * @returns {Column[]}
   */
  function columns() {
    const row = (k) => dataset.rows[k];
    const result = (k) => results[k];
    /** @type {Column[]} */
    const common = [["Line", (k) => k, (k) => String(dataset.lines[k] ?? k + 1), "num"],
      ["Instruction", (k) => row(k).instruction + (row(k).input || ""), (k) => cut(row(k).instruction + (row(k).input || ""))]];
    if (dataset.kind === "pairs") {
      return [...common,
        ["Output A", (k) => row(k).output_a, (k) => cut(row(k).output_a)],
        ["Output B", (k) => row(k).output_b, (k) => cut(row(k).output_b)],
        ["Value", (k) => result(k)?.value ?? -Infinity, (k) => result(k) ? result(k).value.toFixed(4) : "…", "num"],
        ["P(A beats B)", (k) => result(k)?.probability ?? -Infinity, (k) => result(k) ? result(k).probability.toFixed(3) : "…", "num"],
        ["Winner", (k) => result(k)?.winner ?? "", (k) => result(k) ? result(k).winner.toUpperCase() : ""]];
    }
    return [...common,
      ["Candidates", (k) => row(k).candidates.length, (k) => row(k).candidates.map((c, i) => `${i + 1}. ${cut(c)}`).join("\n")],
      ["Ranks", (k) => result(k)?.ranks.join(",") ?? "", (k) => result(k)?.ranks.join(", ") ?? "…"]];
  }

  function renderTable() {
    const cols = columns();
    const head = el("tr");
    cols.forEach(([name], c) => {
      const th = el("th");
      th.scope = "col";
      if (c === sort.column) th.setAttribute("aria-sort", sort.descending ? "descending" : "ascending");
      const b = el("button", name);
      b.type = "button";
      b.addEventListener("click", () => {
        sort = { column: c, descending: sort.column === c ? !sort.descending : false };
        renderTable();
      });
      th.append(b);
      head.append(th);
    });
    $("rows-table", HTMLTableElement).tHead.replaceChildren(head);
    const key = cols[sort.column][1];
    const order = dataset.rows.map((_, k) => k).sort((a, b) => {
      const x = key(a), y = key(b);
      const c = x < y ? -1 : x > y ? 1 : a - b;
      return sort.descending ? -c : c;
    });
    const body = $("rows-table", HTMLTableElement).tBodies[0];
    $("rows-shown").textContent = order.length > SHOWN_ROWS
      ? `Showing ${SHOWN_ROWS} of ${order.length} rows in this order; the downloads have all of them.` : "";
    body.replaceChildren(...order.slice(0, SHOWN_ROWS).map((k) => {
      const tr = el("tr");
      tr.dataset.row = String(k);
      if (results[k]) tr.dataset.value = String(results[k].value ?? "");
      for (const [, , text, cls] of cols) tr.append(el("td", text(k), cls));
      return tr;
    }));
  }

  async function renderResults() {
    const any = done() > 0;
    $("dataset-results").hidden = !any;
    $("pairs-only").hidden = dataset?.kind !== "pairs";
    if (!any) return;
    await summarize();
    renderSummary();
    if (dataset.kind === "pairs") renderHistogram();
    renderTable();
  }

  function exportRows() {
    return dataset.rows.map((row, k) => ({ line: dataset.lines[k], ...row, ...(results[k] || {}) }))
      .filter((_, k) => results[k]);
  }

  async function setDataset(parsed, names) {
    dataset = { ...parsed, names };
    results = new Array(parsed.rows.length);
    summary = null;
    savedModel = null;
    sort = { column: 0, descending: false };
    showErrors(parsed.errors.map((e) => e.error));
    showInfo();
    await discardRun();
    await renderResults();
    updateControls();
  }

  async function readFiles(files) {
    if (!files.length || running) return;
    // What the last file said goes now: the answer for this one replaces it.
    $("dataset-info").hidden = true;
    showErrors([]);
    if (files.length > 2) {
      showErrors(["Pick one file (pairs or rankings) or two AlpacaEval files."]);
      return;
    }
    const texts = await Promise.all([...files].map(async (f) => ({ name: f.name, text: await f.text() })));
    await parseFiles(texts);
  }

  async function parseFiles(texts) {
    lastFiles = texts;
    const msg = await request({ type: "dataset-parse", files: texts });
    if (msg.type === "error") {
      dataset = null;
      showInfo();
      $("dataset-results").hidden = true;
      showErrors([`${texts.map((t) => t.name).join(", ")}: ${msg.message}`]);
      updateControls();
      return;
    }
    await setDataset(msg.result, texts.map((t) => t.name));
  }

  async function run() {
    if (!dataset || running) return;
    // Running from the click on: the controls change before anything is awaited.
    const start = results.findIndex((r) => !r) === -1 ? results.length : results.findIndex((r) => !r);
    const id = `run-${Date.now()}`;
    running = { id, started: performance.now(), doneAtStart: start };
    $("dataset-progress").hidden = false;
    showProgress(start);
    updateControls();
    if (start === 0) {
      options = { tieBand: Number($("tie-band", HTMLInputElement).value || 0), seed: Number($("seed", HTMLInputElement).value || 0) };
      try {
        await saveRun({ dataset, options, model: currentModel() });
      } catch (err) {
        showErrors([`The run cannot be saved in this browser (${err.message}); it would not survive a reload.`]);
      }
    }
    // Rows are done in order, so the rows from the first one without a result remain.
    const rows = dataset.rows.slice(start);
    const msg = await request({ type: "dataset-run", id, kind: dataset.kind, rows, start, ...options });
    // What the page then reports as done is what a reload finds: a reload
    // before a save commits would lose its rows while "Resume" counted them.
    await saving;
    running = null;
    $("dataset-progress").hidden = true;
    if (msg.type === "error") {
      showErrors([msg.name === ABORT
        ? `Cancelled after ${done()} of ${dataset.rows.length} rows; Resume goes on from there.`
        : `The run stopped at row ${done() + 1}: ${msg.message}`]);
    } else {
      showErrors(dataset.errors.map((e) => e.error));
    }
    await renderResults();
    updateControls();
  }

  function showProgress(rowsDone) {
    if (!running) return;
    const total = dataset.rows.length;
    $("dataset-bar", HTMLProgressElement).max = total;
    $("dataset-bar", HTMLProgressElement).value = rowsDone;
    const elapsed = (performance.now() - running.started) / 1000;
    const rate = (rowsDone - running.doneAtStart) / Math.max(elapsed, 1e-3);
    $("dataset-progress-text").textContent = `${rowsDone} / ${total} rows · ` +
      (rowsDone > running.doneAtStart ? `${rate.toFixed(2)} rows/s · ${duration((total - rowsDone) / rate)} left` : "starting…");
    $("dataset-progress").dataset.done = String(rowsDone);
  }

  /** @param {import("./protocol.js").FromWorker} msg */
  async function onMessage(msg) {
    if (!running || !("id" in msg) || msg.id !== running.id) return;
    if (msg.type === "dataset-rows") {
      msg.results.forEach((r, k) => { results[msg.start + k] = r; });
      // Not saved (storage refused): the run goes on; a reload would redo these rows.
      saving = saving.then(() => saveResults(msg.start, msg.results)).catch(() => {});
      await saving;
      showProgress(done());
      if (performance.now() - lastDrawn > REDRAW_MS) {
        lastDrawn = performance.now();
        await renderResults();
      }
    } else if (msg.type === "dataset-progress") {
      showProgress(msg.done);
    }
  }

  async function restore() {
    let saved = null;
    try {
      saved = await loadRun();
    } catch {
      return;
    }
    if (!saved) return;
    dataset = saved.dataset;
    options = saved.options;
    savedModel = saved.model;
    results = saved.results;
    $("tie-band", HTMLInputElement).value = String(options.tieBand);
    $("seed", HTMLInputElement).value = String(options.seed);
    showInfo();
    showErrors(dataset.errors.map((e) => e.error));
    await renderResults();
    updateControls();
  }

  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    readFiles(e.dataTransfer.files);
  });
  $("dataset-file").addEventListener("change", (e) => {
    readFiles($("dataset-file", HTMLInputElement).files);
    $("dataset-file", HTMLInputElement).value = "";
  });
  $("dataset-run").addEventListener("click", run);
  $("dataset-swap").addEventListener("click", () => parseFiles([lastFiles[1], lastFiles[0]]));
  $("dataset-cancel").addEventListener("click", () => post({ type: "cancel" }));
  $("dataset-discard").addEventListener("click", async () => {
    await discardRun();
    dataset = null;
    results = [];
    savedModel = null;
    showInfo();
    showErrors([]);
    $("dataset-results").hidden = true;
    updateControls();
  });
  $("download-jsonl").addEventListener("click", () => {
    const lines = exportRows().map((r) => JSON.stringify(r));
    if (summary) lines.push(JSON.stringify({ summary }));
    download("pairrm-results.jsonl", "application/x-ndjson", `${lines.join("\n")}\n`);
  });
  $("download-csv").addEventListener("click", () => {
    const rows = exportRows();
    const keys = dataset.kind === "pairs"
      ? ["line", "instruction", "input", "output_a", "output_b", "value", "probability", "winner", "tokens_a", "tokens_b", "truncated"]
      : ["line", "instruction", "input", "candidates", "ranks", "scores", "truncated"];
    const cell = (v) => csvField(Array.isArray(v) ? JSON.stringify(v) : v);
    const text = [keys.join(","), ...rows.map((r) => keys.map((k) => cell(r[k])).join(","))].join("\n");
    download("pairrm-results.csv", "text/csv", `${text}\n`);
  });
  restore();

  return { onMessage, modelReady: updateControls };
}
