#!/usr/bin/env node
// Browser timings of the built page (dist/) in headless Chromium: cold and warm
// load of a model, and per-comparison latency on WebGPU and on the CPU fallback.
//   node scripts/browser_bench.mjs [--model tiny-hf] [--candidates 4]
import { join } from "node:path";
import { ROOT, serve, launchContext } from "./browser.mjs";

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const model = opt("--model", "tiny-hf");
const n = Number(opt("--candidates", "4"));
const port = 17000 + Math.floor(Math.random() * 1000);
const server = await serve(["--root", join(ROOT, "dist"), "--port", String(port),
  "--mount", `/models=${join(ROOT, "tests", "fixtures")}`]);

async function loaded(page) {
  await page.waitForFunction(() => document.getElementById("device-badge").textContent !== "loading…", null, { timeout: 600_000 });
  return page.textContent("#device-badge");
}

for (const device of ["webgpu", "cpu"]) {
  const ctx = await launchContext("pairrm-bench-");
  const page = await ctx.newPage();
  let t = Date.now();
  await page.goto(`http://127.0.0.1:${port}/?model=/models/${model}/&device=${device}`);
  const badge = await loaded(page);
  const cold = Date.now() - t;
  await page.fill("#instruction", "Explain why the sky is blue in one paragraph.");
  while ((await page.$$(".candidate")).length < n) await page.click("#add");
  const areas = await page.$$(".candidate-text");
  for (let i = 0; i < n; i++) await areas[i].fill(`Candidate answer number ${i}: sunlight scatters off air molecules, blue light the most.`);
  await page.click("#rank"); // warm-up (shader compilation)
  await page.waitForFunction(() => !document.getElementById("results").hidden && document.getElementById("rank").textContent === "Rank", null, { timeout: 600_000 });
  t = Date.now();
  await page.click("#rank");
  await page.waitForFunction(() => document.getElementById("rank").textContent === "Rank", null, { timeout: 600_000 });
  const perPair = (Date.now() - t) / (n * (n - 1));
  t = Date.now();
  await page.reload();
  await loaded(page);
  const warm = Date.now() - t;
  console.log(`${device} (badge ${badge}): cold load ${cold} ms, warm load ${warm} ms, ${perPair.toFixed(1)} ms per comparison`);
  await ctx.close();
}
server.kill();
