#!/usr/bin/env node
// Reload check (not in CI; issue 19): how long the page takes to become ready on a
// first visit (download + convert into the cache), on reloads of the same tab, and
// in a freshly started browser on the same profile (a warm load with nothing of an
// earlier page alive). A reload should be as quick as the fresh browser's warm load:
// anything the previous page did not let go (GPU buffers, device, worker, IndexedDB
// connection) shows up here as a slower reload.
//   node scripts/reload_check.mjs DIR [--device cpu|webgpu] [--dtype q8|f16|f32] [--reloads N] [--dist DIR]
//                                 [--one-thread]
// DIR is a model folder, e.g. the 1.74 GB stand-in of scripts/large_model_check.mjs.
// Prints one JSON object; exits 1 if a reload takes over 1.5x the fresh warm load.
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { ROOT, serve, LAUNCH, tempDir } from "./browser.mjs";

const arg = (name, fallback) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
const dir = resolve(process.argv[2] || "/tmp/pairrm-large");
const device = arg("--device", "webgpu");
const dtype = arg("--dtype", "q8");
const reloads = Number(arg("--reloads", "2"));
const port = 16000 + Math.floor(Math.random() * 1000);
// --dist: another build of the page (an earlier commit's dist/, to compare).
const dist = resolve(arg("--dist", join(ROOT, "dist")));
// --one-thread: a host without COOP/COEP in a browser without service workers (as in
// some private windows), so the page's worker runs the one-thread build.
const oneThread = process.argv.includes("--one-thread");
const server = await serve(["--root", dist, "--port", String(port), "--mount", `/large=${dir}`,
  ...(oneThread ? ["--no-isolation"] : [])]);

/** A persistent context; with --one-thread its pages see no `navigator.serviceWorker`. */
async function launch() {
  const ctx = await chromium.launchPersistentContext(profile, LAUNCH);
  if (oneThread) await ctx.addInitScript(() => { delete Navigator.prototype.serviceWorker; });
  return ctx;
}
const url = `http://127.0.0.1:${port}/?model=/large/&device=${device}&dtype=${dtype}`;
const profile = tempDir("pairrm-reload-");

/** Milliseconds from `go()` until the page's badge leaves "loading…"; the badge text too. */
async function timeReady(page, go) {
  const t0 = performance.now();
  await go();
  await page.waitForFunction(() => {
    const b = document.getElementById("device-badge").textContent;
    return b !== "loading…" && b !== "";
  }, null, { timeout: 900_000, polling: 100 });
  const ms = Math.round(performance.now() - t0);
  const badge = await page.textContent("#device-badge");
  if (badge === "failed") throw new Error(`load failed: ${await page.textContent("#error")}`);
  return { ms, badge };
}

const out = { device, dtype };
try {
  let ctx = await launch();
  let page = ctx.pages()[0] || (await ctx.newPage());
  out.firstVisit = await timeReady(page, () => page.goto(url));
  out.reloads = [];
  for (let i = 0; i < reloads; i++) out.reloads.push(await timeReady(page, () => page.reload()));
  await ctx.close();
  ctx = await launch();
  page = ctx.pages()[0] || (await ctx.newPage());
  out.freshBrowser = await timeReady(page, () => page.goto(url));
  out.reloadAfterFresh = await timeReady(page, () => page.reload());
  await ctx.close();
  const worst = Math.max(...out.reloads.map((r) => r.ms), out.reloadAfterFresh.ms);
  out.worstReloadOverFresh = +(worst / out.freshBrowser.ms).toFixed(2);
} finally {
  server.kill();
}
console.log(JSON.stringify(out, null, 1));
process.exit(out.worstReloadOverFresh > 1.5 ? 1 : 0);
