// The package entry: picks one of the two wasm builds at run time.
//  - ./pairrm_web.js: WebGPU, and a one-thread CPU fallback; works on any page.
//  - threads/: the CPU only, with rayon over Web Workers on shared wasm memory
//    (it has no WebGPU: wgpu's browser objects may not cross threads). It needs a
//    cross-origin-isolated page (COOP: same-origin and COEP: require-corp or
//    credentialless on the page and its worker scripts); then
//    `crossOriginIsolated` is true and SharedArrayBuffer exists.
//    Threads also need a Web Worker: a page's main thread may not block, and
//    the pool's caller waits for its workers.
// `init({ device, threads })`: pass the device you will load with ("auto",
// "webgpu" or "cpu"; default "auto"): the threaded build is taken only when the
// model will run on the CPU ("cpu", or "auto" without a hardware WebGPU adapter).
// `threads: 1` forces one thread; a number above 1 asks for that many workers
// (default: navigator.hardwareConcurrency).

/** The class of the build that `init` loaded (see pairrm_web.d.ts). */
export let PairRM;
/** Threads the CPU fallback computes with: 1, or the worker pool's size. */
export let threads = 1;
/** Model-free dataset helpers of the loaded build (see pairrm_web.d.ts). */
export let parseDataset;
export let joinAlpacaEval;
export let summarizePairs;
export let summarizeRanks;

let loading = null;

export default function init(options = {}) {
  loading ??= load(options);
  return loading;
}

/** A WebGPU adapter that is not a software fallback (SwiftShader, WARP): "auto"
 *  computes on the CPU rather than on a GPU emulated on the CPU, far slower. */
async function hasWebGpuAdapter() {
  try {
    const adapter = globalThis.navigator?.gpu && (await navigator.gpu.requestAdapter());
    return !!adapter && !(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false);
  } catch {
    return false;
  }
}

async function load({ device = "auto", threads: wanted, module_or_path } = {}) {
  const isolated = globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === "function";
  const inWorker = typeof WorkerGlobalScope === "function" && globalThis instanceof WorkerGlobalScope;
  const cores = globalThis.navigator?.hardwareConcurrency || 1;
  const count = Math.max(1, Math.floor(wanted ?? cores));
  const onCpu = device === "cpu" || (device === "auto" && !(await hasWebGpuAdapter()));
  const useThreads = onCpu && isolated && inWorker && count > 1;
  const mod = useThreads ? await import("./threads/pairrm_web.js") : await import("./pairrm_web.js");
  const out = await mod.default(module_or_path === undefined ? undefined : { module_or_path });
  if (useThreads) await mod.initThreadPool(count);
  PairRM = mod.PairRM;
  ({ parseDataset, joinAlpacaEval, summarizePairs, summarizeRanks } = mod);
  threads = useThreads ? count : 1;
  return out;
}
