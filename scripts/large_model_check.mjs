#!/usr/bin/env node
// Large-model check (not in CI): load a PairRM-large-sized model (1.74 GB, made by
// `pairrm make-random-model --model tests/fixtures/tiny-hf --out DIR`) through the
// built package in headless Chromium, run one comparison, report load time, the
// wasm memory size (peak: wasm memory never shrinks) and any buffer-limit error.
//   node scripts/large_model_check.mjs DIR [--device cpu|webgpu]
import { join, resolve } from "node:path";
import { ROOT, serve, launchContext } from "./browser.mjs";

const dir = resolve(process.argv[2] || "/tmp/pairrm-large");
const device = process.argv.includes("--device") ? process.argv[process.argv.indexOf("--device") + 1] : "cpu";
const port = 16000 + Math.floor(Math.random() * 1000);
const server = await serve(["--root", join(ROOT, "dist"), "--port", String(port), "--mount", `/large=${dir}`]);
const ctx = await launchContext("pairrm-large-");
const page = await ctx.newPage();
page.on("console", (m) => { if (m.type() === "error") console.error("console:", m.text()); });
const blank = `http://127.0.0.1:${port}/pkg/package.json`;
await page.goto(blank);
const report = await page.evaluate(async (device) => {
  const mod = await import("/pkg/pairrm_web.js");
  const wasm = await mod.default();
  const mem = () => wasm.memory.buffer.byteLength;
  const phases = {};
  const t0 = performance.now();
  let m;
  try {
    m = await mod.PairRM.load("/large/", { device, onProgress: (p) => { phases[p.phase] = p.total; } });
  } catch (e) {
    return { error: String(e.message || e), memory: mem() };
  }
  const loadMs = performance.now() - t0;
  const memoryAfterLoad = mem();
  const t1 = performance.now();
  const r = await m.compare({ instruction: "Say hello.", a: "Hello there!", b: "Go away.", mode: "ab" });
  const compareMs = performance.now() - t1;
  return { device: m.device, coldLoadMs: loadMs, compareMs, value: r.value, memoryAfterLoad, memoryAfterCompare: mem(), phases, warnings: m.warnings };
}, device);
// Warm: a fresh page, weights from IndexedDB.
await page.goto(blank);
Object.assign(report, await page.evaluate(async (device) => {
  const mod = await import("/pkg/pairrm_web.js");
  const wasm = await mod.default();
  const t0 = performance.now();
  const m = await mod.PairRM.load("/large/", { device });
  return { warmLoadMs: performance.now() - t0, warmMemory: wasm.memory.buffer.byteLength, warmDevice: m.device };
}, device));
console.log(JSON.stringify(report, null, 2));
await ctx.close();
server.kill();
