// Types of the package entry (index.js): `init` picks the threaded or the
// single-thread build; the class and the request/result shapes come from the
// wasm-bindgen declarations of the build (both builds share them).
export { PairRM, parseDataset, joinAlpacaEval, summarizePairs, summarizeRanks } from "./pairrm_web.js";
export type {
  LoadOptions, LoadProgress, RankRequest, RankOptions, Ranking, CompareRequest, Comparison,
  Message, ConversationRequest, BestOfNRequest, Best, RankWithRefRequest, RefRanking,
  TokenizeRequest, TokenIds, CacheInfo, ModelProbe,
  PairRow, RankRow, Scoring, DatasetOptions, PairResult, Summary, PairEvaluation,
  RankedRow, RankSummary, RankMany, RowError, ParsedDataset,
} from "./pairrm_web.js";

export interface InitOptions {
  /** The device you will load with: the threaded CPU build is taken only for the CPU. */
  device?: "auto" | "webgpu" | "cpu";
  /** 1 forces one thread; more asks for that many workers (default: hardwareConcurrency). */
  threads?: number;
  /** Where the wasm file is, when not next to the package's JS. */
  module_or_path?: RequestInfo | URL | Response | BufferSource | WebAssembly.Module;
}

/** Load the package's wasm (once; later calls return the same promise). */
export default function init(options?: InitOptions): Promise<unknown>;

/** Threads the CPU fallback computes with: 1, or the worker pool's size. */
export let threads: number;

/**
 * What every method and `PairRM.load` reject with: an `Error` named so that
 * callers branch on names, not messages. A cancel (an aborted `signal`) is
 * `name: "AbortError"`, as `fetch` rejects; anything else is
 * `name: "PairRMError"` with a `kind`. The message is for people.
 */
export interface PairRMError extends Error {
  name: "PairRMError" | "AbortError";
  kind: "io" | "config" | "tokenizer" | "weights" | "input" | "device" | "cancelled";
}
