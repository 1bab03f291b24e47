#!/usr/bin/env node
// Rows/s of the page's Dataset view (dist/) in headless Chromium, on WebGPU and
// on the CPU fallback: the fixture's pairs file (or its short rows only, as in
// the e2e test) run once for warm-up, then timed from Run to the last row.
//   node scripts/browser_dataset_bench.mjs [--model tiny-hf] [--repeat 4] [--short] [--devices webgpu,cpu]
// (the CPU needs a large --repeat to time well: it does hundreds of rows a second)
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, serve, launchContext, tempDir } from "./browser.mjs";

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const model = opt("--model", "tiny-hf");
const repeat = Number(opt("--repeat", "4"));
const lines = readFileSync(join(ROOT, "tests", "fixtures", "datasets", "pairs.jsonl"), "utf8").trim().split("\n")
  .filter((l) => !args.includes("--short") || l.length < 2000);
const file = join(tempDir("pairrm-dsbench-"), "pairs.jsonl");
writeFileSync(file, `${Array.from({ length: repeat }, () => lines.join("\n")).join("\n")}\n`);
const rows = lines.length * repeat;
const port = 17000 + Math.floor(Math.random() * 1000);
const server = await serve(["--root", join(ROOT, "dist"), "--port", String(port),
  "--mount", `/models=${join(ROOT, "tests", "fixtures")}`]);

async function runOnce(page) {
  await page.setInputFiles("#dataset-file", file);
  await page.waitForFunction(() => !document.getElementById("dataset-run").disabled, null, { timeout: 600_000 });
  const t = Date.now();
  await page.click("#dataset-run");
  await page.waitForFunction(() => document.getElementById("dataset-cancel").hidden
    && document.getElementById("dataset-progress").hidden, null, { timeout: 3_600_000 });
  return (Date.now() - t) / 1000;
}

console.log(`Dataset view, ${model}, ${rows} rows (${lines.length} distinct${args.includes("--short") ? ", short ones only" : ""}), both orders per row`);
for (const device of opt("--devices", "webgpu,cpu").split(",")) {
  const ctx = await launchContext("pairrm-dsbench-");
  const page = await ctx.newPage();
  await page.goto(`http://127.0.0.1:${port}/?model=/models/${model}/&device=${device}#dataset`);
  await page.waitForFunction(() => !["loading…", "waiting"].includes(document.getElementById("device-badge").textContent), null, { timeout: 600_000 });
  const badge = await page.textContent("#device-badge");
  await runOnce(page); // warm-up: shader compilation, caches
  const seconds = await runOnce(page);
  console.log(`${device.padEnd(7)} (${badge}): ${(rows / seconds).toFixed(2)} rows/s (${rows} rows in ${seconds.toFixed(1)} s)`);
  await ctx.close();
}
server.kill();
