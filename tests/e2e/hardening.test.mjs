// End-to-end hardening of the page (issue 8): a crashed worker is reported
// and can be retried, `?model=` is checked and a model from another origin
// waits for a click, the cache can be inspected and removed, and the page's
// CSP keeps its own connections to its origin.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, serve, launchContext } from "../../scripts/browser.mjs";

const PORT = 21000 + Math.floor(Math.random() * 1000);
const ORIGIN = `http://127.0.0.1:${PORT}`;
const OTHER_ORIGIN = `http://localhost:${PORT}`; // same server, another origin
const MODEL = "/models/tiny-hf/";
const expected = JSON.parse(readFileSync(join(ROOT, "tests", "fixtures", "tiny-hf", "expected.json"), "utf8"));
const CASE = expected.rank.find((c) => c.candidates.length === 3 && !c.input && c.candidates.every((t) => t.trim()));

// A replacement worker script must be servable to a cross-origin-isolated page.
const SCRIPT_HEADERS = {
  "Cache-Control": "no-store",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
};

let server;
let context;

before(async () => {
  server = await serve(["--root", join(ROOT, "dist"), "--port", String(PORT),
    "--mount", `/models=${join(ROOT, "tests", "fixtures")}`]);
  context = await launchContext("pairrm-hardening-");
});

after(async () => {
  await context?.close();
  server?.kill();
});

const badge = (page) => page.textContent("#device-badge");
const shownError = (page) => page.$eval("#error", (e) => (e.hidden ? "" : e.textContent));

/** Wait until the device badge reads one of `values`. */
async function waitBadge(page, ...values) {
  await page.waitForFunction((vs) => vs.includes(document.getElementById("device-badge").textContent),
    values, { timeout: 240_000 });
}

async function rankOnce(page) {
  await page.fill("#instruction", CASE.instruction);
  const areas = await page.$$(".candidate-text");
  while ((await page.$$(".candidate")).length < CASE.candidates.length) await page.click("#add");
  const all = await page.$$(".candidate-text");
  for (let i = 0; i < CASE.candidates.length; i++) await (all[i] || areas[i]).fill(CASE.candidates[i]);
  await page.evaluate(() => { document.getElementById("results").hidden = true; });
  await page.click("#rank");
  await page.waitForFunction(() => document.getElementById("rank").textContent === "Rank"
    && (!document.getElementById("results").hidden || !document.getElementById("error").hidden), null, { timeout: 240_000 });
}

test("a worker that crashes while loading or ranking is reported, and Retry starts it again", async () => {
  // Service workers blocked: the page's own would serve worker.js from its cache,
  // past the routes that replace it here.
  const own = await launchContext("pairrm-crash-", { serviceWorkers: "block" });
  try {
    await crashAndRetry(own);
  } finally {
    await own.close();
  }
});

async function crashAndRetry(context) {
  const page = await context.newPage();
  page.on("pageerror", () => {});
  // A worker script that dies as it starts.
  const crashing = (route) => route.fulfill({ contentType: "text/javascript", headers: SCRIPT_HEADERS, body: "throw new Error('simulated crash');" });
  await context.route("**/worker.js", crashing);
  await page.goto(`${ORIGIN}/?model=${MODEL}&device=cpu&dtype=f32`);
  await waitBadge(page, "failed");
  assert.match(await shownError(page), /stopped working/);
  assert.equal(await page.isVisible("#retry"), true);
  await context.unroute("**/worker.js", crashing);

  // A worker that loads, then dies in the middle of a ranking.
  const dying = (route) => route.fulfill({
    contentType: "text/javascript",
    headers: SCRIPT_HEADERS,
    body: `onmessage = (e) => {
      if (e.data.type === "probe") postMessage({ type: "probed", url: e.data.url, trusted: true, size: 0, cached: false });
      else if (e.data.type === "load") postMessage({ type: "loaded", device: "cpu", threads: 1, warnings: [] });
      else if (e.data.type === "rank") setTimeout(() => { throw new Error("simulated crash while ranking"); });
    };`,
  });
  await context.route("**/worker.js", dying);
  await page.click("#retry");
  await waitBadge(page, "CPU");
  await rankOnce(page);
  assert.match(await shownError(page), /stopped working.*simulated crash while ranking/);
  assert.equal(await page.textContent("#rank"), "Rank", "the button is not stuck on Ranking…");
  assert.equal(await page.isDisabled("#rank"), true, "no ranking without a worker");
  await context.unroute("**/worker.js", dying);

  // Retry with the real worker: the model loads and ranks.
  await page.click("#retry");
  await page.waitForFunction(() => !document.getElementById("rank").disabled, null, { timeout: 240_000 });
  await rankOnce(page);
  assert.equal(await shownError(page), "");
  const ranks = await page.$$eval(".rank-item", (els) => els.map((el) => [
    Number(el.querySelector(".cand-name").textContent.replace("Candidate ", "")) - 1,
    Number(el.querySelector(".rank").textContent.slice(1)),
  ]));
  const got = [];
  for (const [i, r] of ranks) got[i] = r;
  assert.deepEqual(got, CASE.ranks);
  await page.close();
}

test("?model= must be an http(s) URL; a model from another origin waits for a click", async () => {
  const page = await context.newPage();
  for (const [bad, words] of [["javascript:alert(1)", /http\(s\)/], ["http://[", /not a URL/]]) {
    await page.goto(`${ORIGIN}/?model=${encodeURIComponent(bad)}`);
    await waitBadge(page, "failed");
    assert.match(await shownError(page), words);
  }

  const weights = [];
  const log = (r) => { if (r.url().includes("model.safetensors")) weights.push(r.headers().range || "whole"); };
  context.on("request", log);
  await page.goto(`${ORIGIN}/?model=${encodeURIComponent(`${OTHER_ORIGIN}${MODEL}`)}`);
  await page.waitForSelector("#confirm:not([hidden])", { timeout: 120_000 });
  const text = await page.textContent("#confirm-text");
  assert.match(text, new RegExp(`from ${OTHER_ORIGIN.replace(/[.:/]/g, "\\$&")} \\(\\d+(\\.\\d)? KB to download\\)`), text);
  assert.equal(await badge(page), "waiting");
  assert.deepEqual(weights, ["bytes=0-0"], "only the size was asked for before the click");
  await page.click("#confirm-download");
  await page.waitForFunction(() => !document.getElementById("rank").disabled, null, { timeout: 240_000 });
  context.off("request", log);
  await rankOnce(page);
  assert.equal(await shownError(page), "");
  await page.close();
});

test("the page shows what is cached and removes it on request", async () => {
  const page = await context.newPage();
  await page.goto(`${ORIGIN}/?model=${MODEL}`);
  await page.waitForFunction(() => !document.getElementById("rank").disabled, null, { timeout: 240_000 });
  assert.match(await page.textContent("#cache-size"), /Cached in this browser: [\d.]+ (KB|MB)/);
  await page.click("#clear-cache");
  await page.waitForFunction(() => document.getElementById("cache-size").textContent.startsWith("Nothing cached"));
  const keys = await page.evaluate(() => new Promise((ok, err) => {
    const r = indexedDB.open("pairrm-web", 1);
    r.onsuccess = () => {
      const q = r.result.transaction("pieces").objectStore("pieces").getAllKeys();
      q.onsuccess = () => ok(q.result.length);
    };
    r.onerror = () => err(r.error);
  }));
  assert.equal(keys, 0);
  const files = await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const names = [];
    for await (const [name] of root.entries()) names.push(name);
    return names;
  });
  assert.deepEqual(files, [], "the worker's piece files are removed too");
  await page.close();
});

test("the page may connect to its own origin only; the worker's scripts carry a CSP for model fetches", async () => {
  const html = readFileSync(join(ROOT, "dist", "index.html"), "utf8");
  assert.doesNotMatch(html, /connect-src \*/);
  assert.match(html, /connect-src 'self'/);
  const resp = await fetch(`${ORIGIN}/worker.js`);
  assert.match(resp.headers.get("content-security-policy") || "", /connect-src 'self' https:/);

  const page = await context.newPage();
  await page.goto(`${ORIGIN}/?model=${MODEL}`);
  const blocked = await page.evaluate(async (url) => {
    try {
      await fetch(url);
      return false;
    } catch {
      return true;
    }
  }, `${OTHER_ORIGIN}${MODEL}config.json`);
  assert.equal(blocked, true, "the page itself cannot fetch another origin");
  await page.close();
});

test("a long ranking can be cancelled from the page, and the page stays usable", async () => {
  const page = await context.newPage();
  await page.goto(`${ORIGIN}/?model=${MODEL}&device=cpu&dtype=f32`);
  await page.waitForFunction(() => !document.getElementById("rank").disabled, null, { timeout: 240_000 });
  await page.fill("#instruction", CASE.instruction);
  const long = (i) => `Answer ${i}: ${"a rather long sentence that keeps the model busy for a while ".repeat(8)}`;
  while ((await page.$$(".candidate")).length < 40) await page.click("#add");
  const areas = await page.$$(".candidate-text");
  for (let i = 0; i < areas.length; i++) await areas[i].fill(long(i));
  await page.click("#rank");
  await page.waitForFunction(() => /^Ranking… \d+\/1560$/.test(document.getElementById("rank").textContent),
    null, { timeout: 120_000 });
  await page.click("#cancel");
  await page.waitForFunction(() => document.getElementById("rank").textContent === "Rank", null, { timeout: 120_000 });
  assert.equal(await shownError(page), "Ranking was cancelled.");
  assert.equal(await page.isVisible("#cancel"), false);
  // The model is still there: a short ranking works.
  for (let i = areas.length - 1; i >= CASE.candidates.length; i--) await page.click(`.candidate:nth-child(${i + 1}) .remove`);
  await rankOnce(page);
  assert.equal(await shownError(page), "");
  await page.close();
});
