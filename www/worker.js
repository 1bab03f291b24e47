// Runs the model off the main thread so the page never freezes.
// The package's entry picks its threaded build on a cross-origin-isolated page.
import init, { PairRM, threads } from "./pkg/index.js";

let model = null;

function fail(id, err) {
  postMessage({ type: "error", id, message: String((err && err.message) || err) });
}

onmessage = async (event) => {
  const msg = event.data;
  try {
    if (msg.type === "load") {
      await init({ device: msg.device || "auto" });
      model = await PairRM.load(msg.url, {
        device: msg.device || "auto",
        onProgress: (p) => postMessage({ type: "progress", ...p }),
      });
      postMessage({ type: "loaded", device: model.device, threads, warnings: model.warnings });
    } else if (msg.type === "rank") {
      if (!model) throw new Error("the model is not loaded yet");
      const started = performance.now();
      const result = await model.rank({ instruction: msg.instruction, input: msg.input, candidates: msg.candidates });
      postMessage({ type: "result", id: msg.id, result, ms: performance.now() - started });
    }
  } catch (err) {
    fail(msg.id, err);
  }
};
