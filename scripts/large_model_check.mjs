#!/usr/bin/env node
// Large-model check (not in CI): load a PairRM-large-sized model (1.74 GB, made by
// `pairrm make-random-model --model tests/fixtures/tiny-hf --out DIR`) through the
// built package in headless Chromium, run one comparison, report load time, the
// wasm memory size (peak: wasm memory never shrinks) and any buffer-limit error.
// With --reference, DIR must be the seed-42 stand-in (`make-random-model --seed 42`)
// and every comparison of tests/fixtures/large/reference.json (LLM-Blender's
// logits on those weights, 26 to 2,048 tokens) is run through the package and
// checked within tests/tolerance.json; the script exits 1 on a mismatch.
// --dtype q8|f16|f32 (default q8, as the package) says how the weights load; the
// check uses that dtype's bound (tests/tolerance.json `dtypes`). Also reported:
// browser storage used after the cold load (the cache keeps the converted
// weights only), the JS heap, and on WebGPU the GPU's bytes in tensors (gpuMemory).
//   node scripts/large_model_check.mjs DIR [--device cpu|webgpu] [--dtype q8|f16|f32] [--reference]
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ROOT, serve, launchContext } from "./browser.mjs";

const reference = process.argv.includes("--reference")
  ? JSON.parse(readFileSync(join(ROOT, "tests/fixtures/large/reference.json"), "utf8")).forward
  : null;
const tolerances = JSON.parse(readFileSync(join(ROOT, "tests/tolerance.json"), "utf8"));
const dtype = process.argv.includes("--dtype") ? process.argv[process.argv.indexOf("--dtype") + 1] : "q8";
// The stand-in's logits are at the bounds' own scale (0.24-0.34): no growth.
const tolerance = dtype !== "f32" ? tolerances.dtypes[dtype] : tolerances.logit;

const dir = resolve(process.argv[2] || "/tmp/pairrm-large");
const device = process.argv.includes("--device") ? process.argv[process.argv.indexOf("--device") + 1] : "cpu";
const port = 16000 + Math.floor(Math.random() * 1000);
const dist = process.argv.includes("--dist") ? resolve(process.argv[process.argv.indexOf("--dist") + 1]) : join(ROOT, "dist");
const server = await serve(["--root", dist, "--port", String(port), "--mount", `/large=${dir}`]);
const ctx = await launchContext("pairrm-large-");
const page = await ctx.newPage();
page.on("console", (m) => { if (m.type() === "error") console.error("console:", m.text()); });
const blank = `http://127.0.0.1:${port}/pkg/package.json`;
await page.goto(blank);
const report = await page.evaluate(async ([device, reference, dtype]) => {
  const mod = await import("/pkg/pairrm_web.js");
  const wasm = await mod.default();
  const mem = () => wasm.memory.buffer.byteLength;
  const phases = {};
  const t0 = performance.now();
  let m;
  try {
    const at = () => Math.round(performance.now() - t0);
    const onProgress = (p) => {
      const seen = phases[p.phase] ||= { total: p.total, firstMs: at() };
      seen.total = p.total;
      seen.lastMs = at();
    };
    m = await mod.PairRM.load("/large/", { device, dtype, onProgress });
  } catch (e) {
    return { error: String(e.message || e), memory: mem() };
  }
  const loadMs = performance.now() - t0;
  const memoryAfterLoad = mem();
  const t1 = performance.now();
  const r = await m.compare({ instruction: "Say hello.", a: "Hello there!", b: "Go away.", mode: "ab" });
  const compareMs = performance.now() - t1;
  const checked = [];
  for (const c of reference || []) {
    const t = performance.now();
    const { value } = await m.compare({ instruction: c.instruction, input: c.input, a: c.a, b: c.b, mode: "ab" });
    checked.push({ tokens: c.tokens, value, reference: c.logit, ms: Math.round(performance.now() - t) });
  }
  const storage = (await navigator.storage.estimate()).usage;
  const jsHeap = performance.memory?.usedJSHeapSize;
  return { device: m.device, dtype: m.dtype, coldLoadMs: loadMs, compareMs, value: r.value, memoryAfterLoad, memoryAfterCompare: mem(), gpuMemory: m.deviceMemory, storage, jsHeap, phases, warnings: m.warnings, checked };
}, [device, reference, dtype]);
// Warm: a fresh page, weights from IndexedDB.
await page.goto(blank);
Object.assign(report, await page.evaluate(async ([device, dtype]) => {
  const mod = await import("/pkg/pairrm_web.js");
  const wasm = await mod.default();
  const t0 = performance.now();
  const m = await mod.PairRM.load("/large/", { device, dtype });
  const warmLoadMs = performance.now() - t0;
  return { warmLoadMs, warmMemory: wasm.memory.buffer.byteLength, warmDevice: m.device, warmStorage: (await navigator.storage.estimate()).usage, warmJsHeap: performance.memory?.usedJSHeapSize };
}, [device, dtype]));
console.log(JSON.stringify(report, null, 2));
await ctx.close();
server.kill();
if (reference) {
  const bad = (report.checked || []).filter((c) => !(Math.abs(c.value - c.reference) <= tolerance));
  if (report.error || bad.length || (report.checked || []).length !== reference.length) {
    console.error(`large stand-in: ${bad.length} of ${reference.length} comparisons differ from the reference by more than ${tolerance}${report.error ? `; load failed: ${report.error}` : ""}`);
    process.exit(1);
  }
  console.log(`large stand-in: all ${reference.length} comparisons within ${tolerance} of the reference`);
}
