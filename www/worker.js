// @ts-check
// Runs the model off the main thread so the page never freezes.
// The package's entry picks its threaded build on a cross-origin-isolated page.
import init, { PairRM, threads, parseDataset, joinAlpacaEval, summarizePairs, summarizeRanks } from "./pkg/index.js";
import { toPage } from "./protocol.js";

let model = null;
let ready = null;
/** Aborts the load or ranking under way (the page's Cancel button). */
let job = new AbortController();

/** Rows per call in a dataset run: each call's results are saved by the page before the next. */
const ROWS_PER_CALL = { pairs: 8, rankings: 1 };

/** Errors cross to the page with their name ("AbortError" for a cancel, "PairRMError") and kind. */
function fail(id, err) {
  toPage({
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

/** @param {MessageEvent<import("./protocol.js").ToWorker>} event */
onmessage = async (event) => {
  const msg = event.data;
  try {
    if (msg.type === "cancel") {
      job.abort();
    } else if (msg.type === "load") {
      await initOnce(msg.device);
      job = new AbortController();
      model = await PairRM.load(msg.url, {
        device: /** @type {"auto" | "webgpu" | "cpu"} */ (msg.device || "auto"),
        // The page passes ?device= and ?dtype= as typed; the package refuses unknown ones.
        ...(msg.dtype ? { dtype: /** @type {"f32" | "f16" | "q8"} */ (msg.dtype) } : {}),
        signal: job.signal,
        onProgress: (p) => toPage({ type: "progress", ...p }),
      });
      toPage({ type: "loaded", device: model.device, dtype: model.dtype, threads, warnings: model.warnings, cache: await cacheInfo() });
    } else if (msg.type === "probe") {
      // Which model (none asked: the package's default), is it cached, and
      // how big is it? Asked before anything is downloaded; models from the
      // page's own origin or the default's load without asking.
      await initOnce(msg.device);
      const url = msg.url || PairRM.defaultUrl();
      const trusted = [self.location.origin, new URL(PairRM.defaultUrl()).origin].includes(new URL(url).origin);
      const probe = trusted ? { url, size: 0, cached: false } : await PairRM.probe(url);
      toPage({ type: "probed", trusted, ...probe });
    } else if (msg.type === "clear-cache") {
      await initOnce(msg.device);
      await PairRM.clearCache();
      toPage({ type: "cache", cache: await cacheInfo() });
    } else if (msg.type === "rank") {
      if (!model) throw new Error("the model is not loaded yet");
      const started = performance.now();
      job = new AbortController();
      const result = await model.rank({ instruction: msg.instruction, input: msg.input, candidates: msg.candidates }, {
        signal: job.signal,
        onProgress: (done, total) => toPage({ type: "rank-progress", id: msg.id, done, total }),
      });
      toPage({ type: "result", id: msg.id, result, ms: performance.now() - started });
    } else if (msg.type === "dataset-parse") {
      await initOnce(msg.device);
      const [a, b] = msg.files;
      const result = b ? joinAlpacaEval(a.text, b.text) : parseDataset(a.text);
      toPage({ type: "result", id: msg.id, result });
    } else if (msg.type === "dataset-summary") {
      await initOnce(msg.device);
      const result = msg.kind === "pairs"
        ? summarizePairs(msg.rows, { tieBand: msg.tieBand, seed: msg.seed })
        : summarizeRanks(msg.rows);
      toPage({ type: "result", id: msg.id, result });
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
          onProgress: (done) => toPage({ type: "dataset-progress", id: msg.id, done: start + done }),
        };
        const out = msg.kind === "pairs" ? await model.evaluatePairs(chunk, opts) : await model.rankMany(chunk, opts);
        toPage({ type: "dataset-rows", id: msg.id, start, results: out.rows });
      }
      toPage({ type: "result", id: msg.id, result: { rows: msg.rows.length } });
    }
  } catch (err) {
    fail("id" in msg ? msg.id : undefined, err);
  }
};
