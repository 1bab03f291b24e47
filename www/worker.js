// Runs the model off the main thread so the page never freezes.
// The package's entry picks its threaded build on a cross-origin-isolated page.
import init, { PairRM, threads, parseDataset, joinAlpacaEval, summarizePairs, summarizeRanks } from "./pkg/index.js";

let model = null;
let ready = null;
/** Aborts the load or ranking under way (the page's Cancel button). */
let job = new AbortController();

/** Rows per call in a dataset run: each call's results are saved by the page before the next. */
const ROWS_PER_CALL = { pairs: 8, rankings: 1 };

/** Errors cross to the page with their name ("AbortError" for a cancel, "PairRMError") and kind. */
function fail(id, err) {
  postMessage({
    type: "error",
    id,
    name: (err && err.name) || "Error",
    kind: (err && err.kind) || "",
    message: String((err && err.message) || err),
  });
}

/** The package, initialised once (its static methods need it). */
function initOnce(device) {
  ready ??= init({ device: device || "auto" });
  return ready;
}

async function cacheInfo() {
  try {
    return await PairRM.cacheInfo();
  } catch {
    return null;
  }
}

onmessage = async (event) => {
  const msg = event.data;
  try {
    if (msg.type === "cancel") {
      job.abort();
    } else if (msg.type === "load") {
      await initOnce(msg.device);
      job = new AbortController();
      model = await PairRM.load(msg.url, {
        device: msg.device || "auto",
        ...(msg.dtype ? { dtype: msg.dtype } : {}),
        signal: job.signal,
        onProgress: (p) => postMessage({ type: "progress", ...p }),
      });
      postMessage({ type: "loaded", device: model.device, dtype: model.dtype, threads, warnings: model.warnings, cache: await cacheInfo() });
    } else if (msg.type === "probe") {
      // Is this model cached, and how big is it? (Asked before downloading it.)
      await initOnce(msg.device);
      const info = await cacheInfo();
      const cached = !!info && info.models.some((m) => m.startsWith(msg.url));
      let size = 0;
      if (!cached) {
        try {
          const resp = await fetch(`${msg.url}model.safetensors`, { headers: { Range: "bytes=0-0" }, cache: "no-store" });
          const range = resp.headers.get("Content-Range") || "";
          size = Number(range.slice(range.lastIndexOf("/") + 1)) || Number(resp.headers.get("Content-Length")) || 0;
          await resp.body?.cancel();
        } catch {
          size = 0;
        }
      }
      postMessage({ type: "probed", url: msg.url, size, cached });
    } else if (msg.type === "clear-cache") {
      await initOnce(msg.device);
      await PairRM.clearCache();
      postMessage({ type: "cache", cache: await cacheInfo() });
    } else if (msg.type === "rank") {
      if (!model) throw new Error("the model is not loaded yet");
      const started = performance.now();
      job = new AbortController();
      const result = await model.rank({ instruction: msg.instruction, input: msg.input, candidates: msg.candidates }, {
        signal: job.signal,
        onProgress: (done, total) => postMessage({ type: "rank-progress", id: msg.id, done, total }),
      });
      postMessage({ type: "result", id: msg.id, result, ms: performance.now() - started });
    } else if (msg.type === "dataset-parse") {
      await initOnce(msg.device);
      const [a, b] = msg.files;
      const result = b ? joinAlpacaEval(a.text, b.text) : parseDataset(a.text);
      postMessage({ type: "result", id: msg.id, result });
    } else if (msg.type === "dataset-summary") {
      await initOnce(msg.device);
      const result = msg.kind === "pairs"
        ? summarizePairs(msg.rows, { tieBand: msg.tieBand, seed: msg.seed })
        : summarizeRanks(msg.rows);
      postMessage({ type: "result", id: msg.id, result });
    } else if (msg.type === "dataset-run") {
      if (!model) throw new Error("the model is not loaded yet");
      job = new AbortController();
      const step = ROWS_PER_CALL[msg.kind];
      for (let k = 0; k < msg.rows.length; k += step) {
        const chunk = msg.rows.slice(k, k + step);
        const start = msg.start + k;
        const opts = {
          signal: job.signal,
          tieBand: msg.tieBand,
          seed: msg.seed,
          onProgress: (done) => postMessage({ type: "dataset-progress", id: msg.id, done: start + done }),
        };
        const out = msg.kind === "pairs" ? await model.evaluatePairs(chunk, opts) : await model.rankMany(chunk, opts);
        postMessage({ type: "dataset-rows", id: msg.id, start, results: out.rows });
      }
      postMessage({ type: "result", id: msg.id, result: { rows: msg.rows.length } });
    }
  } catch (err) {
    fail(msg.id, err);
  }
};
