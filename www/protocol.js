// @ts-check
// The page ⇄ worker protocol, in one place: every message either side posts
// is one of these types, and `tsc --checkJs` (tests/e2e/types.test.mjs)
// checks each post and each branch on `type` against them.

/** @typedef {string} Device "auto", "webgpu" or "cpu" (from `?device=`: the package refuses others) */
/** @typedef {number | string} Id a request's, chosen by the page */
/** @typedef {"pairs" | "rankings"} DatasetKind */
/** @typedef {{ name: string, text: string }} DatasetFile */
/** @typedef {{ tieBand?: number, seed?: number }} SummaryOptions */

/**
 * What the page asks of the worker. Messages with an `id` are answered by a
 * `result` or an `error` with the same id.
 * @typedef {{ type: "cancel" }
 *   | { type: "load", url: string, device: Device, dtype: string }
 *   | { type: "probe", url: string | null, device: Device }
 *   | { type: "clear-cache", device: Device }
 *   | { type: "rank", id: Id, instruction: string, input: string, candidates: string[] }
 *   | { type: "dataset-parse", id: Id, device: Device, files: DatasetFile[] }
 *   | ({ type: "dataset-summary", id: Id, device: Device, kind: DatasetKind, rows: any[] } & SummaryOptions)
 *   | ({ type: "dataset-run", id: Id, device: Device, kind: DatasetKind, rows: any[], start: number } & SummaryOptions)
 * } ToWorker
 */

/**
 * A request without its `id` and `device`: `request()` in app.js adds them.
 * @typedef {{ type: "dataset-parse", files: DatasetFile[] }
 *   | ({ type: "dataset-summary", kind: DatasetKind, rows: any[] } & SummaryOptions)
 *   | ({ type: "dataset-run", id?: Id, kind: DatasetKind, rows: any[], start: number } & SummaryOptions)
 * } Request
 */

/**
 * What the cache holds (`PairRM.cacheInfo()`), or null where it cannot tell.
 * @typedef {{ models: string[], usage: number } | null} CacheInfo
 */

/**
 * What the worker tells the page.
 * @typedef {{ type: "progress", phase: string, loaded: number, total: number }
 *   | { type: "loaded", device: string, dtype: string, threads: number, warnings: string[], cache: CacheInfo }
 *   | Probed
 *   | { type: "cache", cache: CacheInfo }
 *   | { type: "rank-progress", id: Id, done: number, total: number }
 *   | { type: "dataset-progress", id: Id, done: number }
 *   | { type: "dataset-rows", id: Id, start: number, results: any[] }
 *   | Answer
 * } FromWorker
 */

/**
 * Which model the page gets (its own `?model=`, else the package's default),
 * whether it loads without asking (the page's origin or the default's), and
 * what `PairRM.probe` said of it.
 * @typedef {{ type: "probed", url: string, trusted: boolean, size: number, cached: boolean }} Probed
 */

/**
 * The answer to a request with an `id`. An error carries the package's error
 * `name` ("AbortError" for a cancel, else "PairRMError") and `kind`: the page
 * branches on those, never on the message text.
 * @typedef {{ type: "result", id: Id, result: any, ms?: number }
 *   | { type: "error", id?: Id, name: string, kind: string, message: string }
 * } Answer
 */

/** The `name` of the error a cancelled load or run answers with. */
export const ABORT = "AbortError";

/**
 * Post a message to the worker (none yet: dropped).
 * @param {Worker | null} worker
 * @param {ToWorker} msg
 */
export function toWorker(worker, msg) {
  worker?.postMessage(msg);
}

/**
 * Post a message to the page (from the worker's global scope).
 * @param {FromWorker} msg
 */
export function toPage(msg) {
  /** @type {{ postMessage(msg: FromWorker): void }} */ (/** @type {unknown} */ (globalThis)).postMessage(msg);
}
