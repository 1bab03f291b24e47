#!/usr/bin/env node
// pairrm-web vs ONNX Runtime Web in headless Chromium: latency of ONE comparison
// (instruction + two candidates, ~--tokens 256 tokens in all) on the same model dims.
//   node scripts/browser_compare.mjs MODEL_DIR ONNX_FILE [--iters 3] [--tokens 256]
//        [--threads 2] [--skip-webgpu] [--timeout-min 30] [--pkg dist/pkg]
//        [--dtype q8 --onnx-int8 ONNX_INT8_FILE] [--only ENGINE,ENGINE...]
// MODEL_DIR: a pairrm model folder (tests/fixtures/tiny-hf, or the 1.74 GB stand-in of
// `pairrm make-random-model --model tests/fixtures/tiny-hf --out /tmp/pairrm-large`);
// ONNX_FILE: its export by scripts/reference/export_onnx.py, with ONNX_FILE.data next to it.
// Needs the built package (dist/pkg from ./build.sh, or --pkg DIR), onnxruntime-web
// (npm install) and target/release/pairrm (or $PAIRRM_BIN) to tokenize the texts.
// Engines, each in a module Web Worker on a cross-origin-isolated page, each in its own
// fresh browser (profile deleted after; --timeout-min per engine):
//   pairrm-cpu1    init({threads: 1}), device "cpu"          (single-thread wasm build)
//   pairrm-cpuN    init({threads: N}), device "cpu"          (threaded build, rayon)
//   pairrm-webgpu  device "webgpu"; here SwiftShader, i.e. WebGPU emulated on the CPU
//   ort-1, ort-N   onnxruntime-web, wasm EP, env.wasm.numThreads 1 / N
// Per engine: load once (seconds; pairrm-web's includes writing its IndexedDB cache),
// one warm-up run, then --iters timed runs; median ms. pairrm-web times compare({mode:
// "ab"}) end to end (tokenizing included); ORT times session.run on the identical ids
// [CLS] <|source|> s [SEP] [CLS] <|candidate1|> a [SEP] [CLS] <|candidate2|> b [SEP].
// With --dtype q8 (or f16) our CPU engines load with that dtype (converted while
// loading) beside the f32 ones, and --onnx-int8 adds ORT Web on that model
// (scripts/reference/quantize_onnx.py: transformers.js's q8 recipe) as ort8-1 / ort8-N.
// Ratios are ORT ms / pairrm-web ms (> 1: pairrm-web is faster).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { ROOT, serve, launchContext, tempDir, removeTempDir } from "./browser.mjs";

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const VALUED = ["--iters", "--tokens", "--threads", "--timeout-min", "--pkg", "--dtype", "--onnx-int8", "--only"];
const [modelArg, onnxArg] = args.filter((a, i) => !a.startsWith("--") && !VALUED.includes(args[i - 1]));
if (!modelArg || !onnxArg) {
  console.error("usage: node scripts/browser_compare.mjs MODEL_DIR ONNX_FILE [--iters 3] [--tokens 256] [--threads 2] [--skip-webgpu] [--timeout-min 30] [--pkg dist/pkg]");
  process.exit(2);
}
const [modelDir, onnxFile] = [resolve(modelArg), resolve(onnxArg)];
const iters = Number(opt("--iters", "3"));
const total = Number(opt("--tokens", "256"));
const nThreads = Number(opt("--threads", "2"));
const timeoutMs = Number(opt("--timeout-min", "30")) * 60_000;
for (const f of [join(ROOT, "node_modules/onnxruntime-web/dist/ort.wasm.min.mjs"), onnxFile + ".data"]) {
  if (!existsSync(f)) throw new Error(`missing ${f} (npm install; export_onnx.py)`);
}
const pkgDir = resolve(opt("--pkg", join(ROOT, "dist/pkg")));
const havePkg = existsSync(join(pkgDir, "index.js")); // else only the ORT engines run

// Texts: seeded pseudo-English; per segment the longest word prefix whose tokens fit
// its share (40% source, 30% each candidate, as bench_onnx.py), tokenized by the CLI.
const WORDS = ("the a of to and in is it that for on with as was be by this are from at or have not but an they which one you were all we when there can more if out so what about up said into time some could them other than then now only its also two how first new because people way may use these water long day even made after most over right through back good work well year could great where make world still own see men should around another came come every just form large must never old part same small place sound light life high change answer order land air animal house point page letter mother plant food sun").split(" ");
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const sentence = (n) => Array.from({ length: n }, (_, i) => WORDS[Math.floor(rand() * WORDS.length)] + ((i + 1) % 12 === 0 ? "." : "")).join(" ");
const bin = process.env.PAIRRM_BIN || join(ROOT, "target/release/pairrm");
const tokenize = (texts) => execFileSync(bin, ["tokenize", "--model", modelDir], { input: texts.map((text) => JSON.stringify({ text })).join("\n") + "\n" })
  .toString().trim().split("\n").map((l) => JSON.parse(l).ids.slice(1, -1)); // drop [CLS] .. [SEP]
const ls = Math.floor(total * 0.4);
const la = Math.floor((total - ls) / 2);
const segs = [ls, la, total - ls - la].map((len, k) => {
  const words = (k === 0 ? "Write a short answer to the following question. " : "") + sentence(len);
  const prefixes = words.split(" ").map((_, i, w) => w.slice(0, i + 1).join(" "));
  const toks = tokenize(prefixes);
  const i = toks.findLastIndex((t) => t.length <= len - 3);
  return { text: prefixes[i], ids: toks[i] };
});
const added = JSON.parse(readFileSync(join(modelDir, "added_tokens.json"), "utf8"));
const markers = ["<|source|>", "<|candidate1|>", "<|candidate2|>"].map((t) => added[t]);
const ids = segs.flatMap((s, k) => [1, markers[k], ...s.ids, 2]);
const request = { instruction: segs[0].text, input: "", a: segs[1].text, b: segs[2].text, mode: "ab" };
console.log(`comparison: ${ids.length} tokens for pairrm-web (source ${segs[0].ids.length + 3}, a ${segs[1].ids.length + 3}, b ${segs[2].ids.length + 3}); ORT input_ids [1, ${ids.length}] (same ids)`);

// The page and its worker, served from a temp dir at /bench/.
const benchDir = tempDir("pairrm-compare-");
writeFileSync(join(benchDir, "index.html"), "<!doctype html><link rel=icon href=data:,><title>browser_compare</title>");
writeFileSync(join(benchDir, "worker.mjs"), `
async function timed(iters, fn) {
  const value = await fn(); // warm-up
  const times = [];
  for (let i = 0; i < iters; i++) { const t = performance.now(); await fn(); times.push(performance.now() - t); }
  return { value, times };
}
async function run(job) {
  const env = { workerIsolated: self.crossOriginIsolated, cores: navigator.hardwareConcurrency };
  if (job.kind === "pairrm") {
    const pkg = await import("/pkg/index.js");
    await pkg.default({ threads: job.threads, device: job.device });
    let adapter = null;
    if (job.device === "webgpu") {
      const a = await navigator.gpu?.requestAdapter();
      const info = a?.info || {};
      adapter = a ? [info.vendor, info.architecture, info.description].filter(Boolean).join(" ") + ((info.isFallbackAdapter ?? a.isFallbackAdapter) ? " (fallback adapter)" : "") : "none";
    }
    const t0 = performance.now();
    const m = await pkg.PairRM.load(job.model, { device: job.device, ...(job.dtype ? { dtype: job.dtype } : {}) });
    const loadS = (performance.now() - t0) / 1000;
    const r = await timed(job.iters, async () => (await m.compare(job.request)).value);
    return { ...env, ...r, loadS, threads: pkg.threads, device: m.device, dtype: m.dtype, adapter, warnings: m.warnings };
  }
  const ort = await import("/ort/ort.wasm.min.mjs");
  ort.env.wasm.wasmPaths = location.origin + "/ort/";
  ort.env.wasm.numThreads = job.threads;
  const t0 = performance.now();
  const onnx = job.int8 ? job.int8 : { file: job.onnx, dataName: job.dataName, data: job.data };
  const s = await ort.InferenceSession.create(onnx.file, { executionProviders: ["wasm"], externalData: [{ path: onnx.dataName, data: onnx.data }] });
  const loadS = (performance.now() - t0) / 1000;
  // The graph finds the markers by id: try the model dir's ids, then PairRM's (128001..3).
  for (const set of [job.markers, [128001, 128002, 128003]]) {
    const ids = BigInt64Array.from(job.ids, (x) => BigInt(set[job.markers.indexOf(x)] ?? x));
    const feeds = { input_ids: new ort.Tensor("int64", ids, [1, ids.length]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(ids.length).fill(1n), [1, ids.length]) };
    const out = (await s.run(feeds)).logits.data;
    if (out.length !== 1) continue; // no marker matched: empty logits
    const r = await timed(job.iters, async () => (await s.run(feeds)).logits.data[0]);
    return { ...env, ...r, loadS, threads: ort.env.wasm.numThreads, device: "wasm", markers: set, ortVersion: ort.env.versions?.web };
  }
  throw new Error("the ONNX graph found no <|source|>/<|candidate|> markers in the ids");
}
onmessage = async ({ data }) => {
  try { postMessage({ ok: true, ...(await run(data)) }); } catch (e) { postMessage({ ok: false, error: String(e?.stack || e) }); }
};
`);

const port = 18000 + Math.floor(Math.random() * 1000);
const int8File = opt("--onnx-int8", "") && resolve(opt("--onnx-int8", ""));
const dtype = opt("--dtype", "");
const server = await serve(["--root", benchDir, "--port", String(port), "--mount", `/bench=${benchDir}`, "--mount", `/pkg=${pkgDir}`,
  "--mount", `/ort=${join(ROOT, "node_modules/onnxruntime-web/dist")}`, "--mount", `/model=${modelDir}`, "--mount", `/onnx=${dirname(onnxFile)}`,
  ...(int8File ? ["--mount", `/onnx8=${dirname(int8File)}`] : [])]);
process.on("exit", () => server.kill());
const base = `http://127.0.0.1:${port}`;
const common = { iters, request, ids, markers, model: `${base}/model/`, onnx: `${base}/onnx/${basename(onnxFile)}`,
  dataName: basename(onnxFile) + ".data", data: `${base}/onnx/${basename(onnxFile)}.data` };
const int8 = int8File ? { file: `${base}/onnx8/${basename(int8File)}`, dataName: basename(int8File) + ".data", data: `${base}/onnx8/${basename(int8File)}.data` } : null;
if (!havePkg) console.log(`${pkgDir}/index.js is missing (./build.sh): only the ORT engines run`);
const engines = [
  // The f32 side, named: the package loads q8 by default.
  { name: "pairrm-cpu1", kind: "pairrm", device: "cpu", threads: 1, dtype: "f32" },
  { name: `pairrm-cpu${nThreads}`, kind: "pairrm", device: "cpu", threads: nThreads, dtype: "f32" },
  ...(args.includes("--skip-webgpu") ? [] : [{ name: "pairrm-webgpu", kind: "pairrm", device: "webgpu", threads: 1 }]),
  { name: "ort-1", kind: "ort", threads: 1 },
  { name: `ort-${nThreads}`, kind: "ort", threads: nThreads },
  ...(dtype ? [
    { name: `pairrm-cpu1-${dtype}`, kind: "pairrm", device: "cpu", threads: 1, dtype },
    { name: `pairrm-cpu${nThreads}-${dtype}`, kind: "pairrm", device: "cpu", threads: nThreads, dtype },
  ] : []),
  ...(int8 ? [
    { name: "ort8-1", kind: "ort", threads: 1, int8 },
    { name: `ort8-${nThreads}`, kind: "ort", threads: nThreads, int8 },
  ] : []),
].filter((e) => havePkg || e.kind === "ort")
  .filter((e) => !args.includes("--only") || opt("--only", "").split(",").includes(e.name));

async function runEngine(e) {
  const prefix = `pairrm-compare-${process.pid}-${e.name}-`;
  const ctx = await launchContext(prefix);
  let timer;
  try {
    const page = await ctx.newPage();
    let noise = 0; // console errors/warnings of the page and its workers: the first 3, then a count
    page.on("console", (m) => { if (/error|warning/.test(m.type()) && noise++ < 3) console.error(`  [${e.name}] ${m.type()}: ${m.text().slice(0, 400)}`); });
    await page.goto(`${base}/bench/index.html`);
    await fetch(`${base}/__reset`);
    const job = page.evaluate((job) => new Promise((done) => {
      const w = new Worker("/bench/worker.mjs", { type: "module" });
      const uncaught = []; // errors thrown in callbacks (e.g. a wasm panic in a GPU error handler) do not end the worker
      w.onmessage = (ev) => done({ pageIsolated: crossOriginIsolated, uncaught, ...ev.data });
      w.onerror = (ev) => (ev.message ? uncaught.push(ev.message) : done({ ok: false, error: "worker failed to start" }));
      w.postMessage(job);
    }), { ...common, ...e });
    const late = new Promise((done) => { timer = setTimeout(() => done({ ok: false, error: `timed out after ${timeoutMs / 60000} min` }), timeoutMs); });
    const r = await Promise.race([job, late]);
    if (noise > 3) console.error(`  [${e.name}] ${noise - 3} more console errors/warnings`);
    // Thread check: each wasm thread's worker fetches the threaded glue script again.
    const stats = Object.entries(await (await fetch(`${base}/__stats`)).json());
    r.fetches = stats.filter(([p]) => /threaded\.mjs$|threads\/pairrm_web\.js$|workerHelpers/.test(p)).map(([p, n]) => `${basename(p)} x${n}`).join(", ");
    return r;
  } catch (err) {
    return { ok: false, error: String(err.message || err) };
  } finally {
    clearTimeout(timer);
    await ctx.close().catch(() => {});
  }
}

const median = (t) => [...t].sort((x, y) => x - y)[Math.floor((t.length - 1) / 2)];
const results = {};
try {
  for (const e of engines) {
    console.log(`${e.name}: running…`);
    const r = (results[e.name] = await runEngine(e));
    if (!r.ok) { console.log(`${e.name}: FAILED: ${r.error}`); continue; }
    r.median = median(r.times);
    const emulated = e.device === "webgpu" ? `, adapter ${r.adapter}${/swiftshader|fallback/i.test(r.adapter) ? " => EMULATED" : ""}` : "";
    console.log(`${e.name}: load ${r.loadS.toFixed(2)} s, median ${r.median.toFixed(1)} ms [${r.times.map((t) => t.toFixed(1)).join(", ")}], ` +
      `value ${Number(r.value).toFixed(5)}; threads ${r.threads} (asked ${e.threads}), device ${r.device}, crossOriginIsolated page ${r.pageIsolated} worker ${r.workerIsolated}, cores ${r.cores}${emulated}` +
      (r.markers ? `, markers ${r.markers.join(",")}` : "") + (r.fetches ? `, script fetches: ${r.fetches}` : "") + (r.warnings?.length ? `, warnings: ${r.warnings.join("; ")}` : "") +
      (r.uncaught?.length ? `\n  ${r.uncaught.length} uncaught error(s) in the worker, first: ${r.uncaught[0]}` : ""));
  }
} finally {
  server.kill();
  removeTempDir(benchDir);
}

console.log(`\n${"engine".padEnd(16)}${"threads".padStart(8)}${"load s".padStart(9)}${"median ms".padStart(11)}  value`);
for (const e of engines) {
  const r = results[e.name];
  const tag = e.device === "webgpu" && r.ok ? ` (${r.adapter}${/swiftshader|fallback/i.test(r.adapter) ? ": emulated" : ""})` : "";
  console.log(r.ok ? `${e.name.padEnd(16)}${String(r.threads).padStart(8)}${r.loadS.toFixed(2).padStart(9)}${r.median.toFixed(1).padStart(11)}  ${Number(r.value).toFixed(5)}${tag}`
    : `${e.name.padEnd(16)}  failed: ${r.error.split("\n")[0]}`);
}
for (const [suffix, ortName] of [["", "ort"], ...(dtype ? [[`-${dtype}`, int8 ? "ort8" : "ort"]] : [])]) {
  for (const n of [1, nThreads]) {
    const ours = results[`pairrm-cpu${n}${suffix}`];
    const ort = results[`${ortName}-${n}`];
    if (ours?.ok && ort?.ok) console.log(`pairrm-web cpu ${ours.dtype} (${ours.threads} thread${ours.threads > 1 ? "s" : ""}) / ORT Web ${ortName === "ort8" ? "int8" : "f32"} (${ort.threads} thread${ort.threads > 1 ? "s" : ""}): ${(ort.median / ours.median).toFixed(2)}x (ORT ms / ours; > 1 = pairrm-web faster)`);
  }
}
