// End-to-end: the page served locally, driven in Debian's Chromium by playwright-core.
// Run by `./build.sh test` after the page is built into dist/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { ROOT, serve, launchContext, LAUNCH, tempDir, removeTempDir } from "../../scripts/browser.mjs";

const PORT = 18000 + Math.floor(Math.random() * 1000);
const ORIGIN = `http://127.0.0.1:${PORT}`;
const ARTIFACTS = join(ROOT, "tests", "e2e", "artifacts");
const FIXTURE = "tiny-hf";
const expected = JSON.parse(readFileSync(join(ROOT, "tests", "fixtures", FIXTURE, "expected.json"), "utf8"));
const TOLERANCE = JSON.parse(readFileSync(join(ROOT, "tests", "tolerance.json"), "utf8")).logit;
const CASE = expected.rank.find((c) => c.candidates.length === 3 && new Set(c.ranks).size === 3 && !c.input
  && c.candidates.every((t) => t.trim() !== ""));

let server;
let context;

function sigmoid(x) {
  return 1 / (1 + Math.exp(-x));
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await serve(["--root", join(ROOT, "dist"), "--port", String(PORT),
    "--mount", `/models=${join(ROOT, "tests", "fixtures")}`]);
  context = await launchContext("pairrm-e2e-", { viewport: { width: 1100, height: 1200 } });
});

after(async () => {
  await context?.close();
  server?.kill();
});

async function waitLoaded(page) {
  await page.waitForFunction(() => {
    const b = document.getElementById("device-badge").textContent;
    return b !== "loading…";
  }, null, { timeout: 240_000 });
  const badge = await page.textContent("#device-badge");
  assert.notEqual(badge, "failed", await page.textContent("#error"));
}

async function rank(page, instruction, candidates) {
  await page.fill("#instruction", instruction);
  while ((await page.$$(".candidate")).length < candidates.length) await page.click("#add");
  const areas = await page.$$(".candidate-text");
  for (let i = 0; i < candidates.length; i++) await areas[i].fill(candidates[i]);
  await page.click("#rank");
  await page.waitForFunction(() => !document.getElementById("results").hidden
    && document.getElementById("rank").textContent === "Rank", null, { timeout: 240_000 });
  const error = await page.$eval("#error", (e) => (e.hidden ? "" : e.textContent));
  assert.equal(error, "");
}

async function shownResults(page) {
  const items = await page.$$eval(".rank-item", (els) => els.map((el) => ({
    rank: Number(el.querySelector(".rank").textContent.slice(1)),
    index: Number(el.querySelector(".cand-name").textContent.replace("Candidate ", "")) - 1,
    text: el.querySelector(".cand-text").textContent,
  })));
  const cells = await page.$$eval("#heatmap tr", (rows) => rows.slice(1).map((r) =>
    [...r.querySelectorAll("td")].map((td) => Number(td.dataset.p))));
  const logits = await page.$$eval("#heatmap tr", (rows) => rows.slice(1).map((r) =>
    [...r.querySelectorAll("td")].map((td) => Number(td.dataset.logit))));
  return { items, cells, logits };
}

/** How far a logit may be from the reference's for a dtype (tests/tolerance.json;
 * int8's bound grows with the model's logits). */
function bound(dtype) {
  if (dtype === "f32") return TOLERANCE;
  const t = JSON.parse(readFileSync(join(ROOT, "tests", "tolerance.json"), "utf8")).dtypes;
  const largest = Math.max(...expected.forward.map((c) => Math.abs(c.logit)));
  return t[dtype] * Math.max(1, largest / t.logit_scale);
}

/** The shown results against the reference: exact in f32 (ranks too), within
 * the dtype's bound and visibly converted otherwise. */
function checkAgainstReference({ items, cells, logits }, dtype = "f32") {
  const ranks = [];
  for (const it of items) ranks[it.index] = it.rank;
  if (dtype === "f32") assert.deepEqual(ranks, CASE.ranks, "ranks shown equal the reference");
  const M = CASE.logits;
  const tol = bound(dtype);
  let moved = 0;
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      if (i === j) continue;
      assert.ok(Math.abs(logits[i][j] - M[i][j]) <= tol, `${dtype} logit[${i}][${j}] = ${logits[i][j]}, reference ${M[i][j]}`);
      const want = sigmoid((M[i][j] - M[j][i]) / 2);
      assert.ok(Math.abs(cells[i][j] - want) <= tol, `${dtype} P[${i}][${j}] = ${cells[i][j]}, reference ${want}`);
      moved = Math.max(moved, Math.abs(logits[i][j] - M[i][j]));
    }
  }
  if (dtype !== "f32") assert.ok(moved > 1e-6, "the logits equal f32's: nothing was converted");
}

test("ranks on the page equal the reference, offline after the first load, user text stays text", async () => {
  assert.ok(CASE, "a 3-candidate rank case in the fixture");
  const page = await context.newPage();
  const requests = [];
  // The context sees the worker's requests too; a page request is reported to both.
  const seen = new Set();
  const log = (r) => {
    if (seen.has(r)) return;
    seen.add(r);
    requests.push({ url: r.url(), body: r.postData() || "" });
  };
  page.on("request", log);
  context.on("request", log);
  const consoleErrors = [];
  page.on("pageerror", (e) => consoleErrors.push(String(e)));

  await page.goto(`${ORIGIN}/?model=/models/${FIXTURE}/`);
  await waitLoaded(page);
  assert.equal(await page.getAttribute("#device-badge", "data-dtype"), "q8", "int8 by default");
  await rank(page, CASE.instruction, CASE.candidates);
  checkAgainstReference(await shownResults(page), "q8");
  await page.screenshot({ path: join(ARTIFACTS, "results.png"), fullPage: true });

  // The model URL blocked: the model comes from IndexedDB. The one request tried
  // is config.json (the check for a changed model), which fails and is let go.
  const modelFiles = (url) => url.pathname.startsWith("/models/");
  await context.route(modelFiles, (route) => route.abort());
  const isModel = (r) => new URL(r.url).pathname.startsWith("/models/");
  const modelRequestsBefore = requests.filter(isModel).length;
  await page.reload();
  await waitLoaded(page);
  await rank(page, CASE.instruction, CASE.candidates);
  checkAgainstReference(await shownResults(page), "q8");
  const tried = requests.filter(isModel).slice(modelRequestsBefore).map((r) => new URL(r.url).pathname);
  assert.deepEqual(tried.filter((p) => !p.endsWith("/config.json")), [], "a cached model makes no request for its files");
  assert.ok(tried.length <= 1, `one freshness check at most: ${tried}`);
  await context.unroute(modelFiles); // the same function: unroute matches routes by identity

  // Markup typed by a user is shown as text and never runs.
  const attack = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`;
  await rank(page, "xss-probe-instruction", [attack, "plain answer", "<b>bold?</b>"]);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.$$eval("#ranking img, #ranking script, #ranking b", (e) => e.length), 0);
  const shown = (await shownResults(page)).items.map((i) => i.text);
  assert.ok(shown.includes(attack), "the candidate is displayed literally");
  await page.screenshot({ path: join(ARTIFACTS, "xss.png"), fullPage: true });

  // Nothing the user typed left the page.
  const secrets = [CASE.instruction, ...CASE.candidates, "xss-probe-instruction", "plain answer"]
    .filter((s) => s.length >= 8);
  for (const r of requests) {
    for (const s of secrets) {
      assert.ok(!decodeURIComponent(r.url).includes(s) && !r.body.includes(s), `request ${r.url} carries user text`);
    }
  }
  assert.deepEqual(consoleErrors, []);
});

/** The page's piece files in the origin-private file system, as [name, size]. */
function pieceFiles(page) {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    let dir;
    try {
      dir = await root.getDirectoryHandle("pairrm-web-pieces");
    } catch {
      return [];
    }
    const out = [];
    for await (const [name, handle] of dir.entries()) out.push([name, (await handle.getFile()).size]);
    return out;
  });
}

test("the worker keeps pieces as private files; a file cut short is fetched again, never used", async () => {
  const page = await context.newPage();
  await page.goto(`${ORIGIN}/?model=/models/${FIXTURE}/&dtype=q8`);
  await waitLoaded(page);
  const files = await pieceFiles(page);
  assert.ok(files.length > 0, "the page's worker wrote its pieces as files");
  const records = await page.evaluate(() => new Promise((ok, err) => {
    const r = indexedDB.open("pairrm-web", 1);
    r.onsuccess = () => {
      const q = r.result.transaction("pieces").objectStore("pieces").getAll();
      q.onsuccess = () => ok(q.result.map((v) => ({ file: v.file, size: v.size, inline: !!v.bytes })));
    };
    r.onerror = () => err(r.error);
  }));
  const byName = new Map(files);
  const withFiles = records.filter((r) => typeof r.file === "string");
  assert.ok(withFiles.length > 0 && withFiles.every((r) => !r.inline && byName.get(r.file) === r.size),
    `records name their files and sizes: ${JSON.stringify(records)}`);

  const [victim, size] = files.reduce((a, b) => (b[1] > a[1] ? b : a));
  await page.evaluate(async ([name, keep]) => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle("pairrm-web-pieces");
    const w = await (await dir.getFileHandle(name)).createWritable({ keepExistingData: true });
    await w.truncate(keep);
    await w.close();
  }, [victim, Math.floor(size / 2)]);
  const fetched = [];
  const log = (r) => { if (new URL(r.url()).pathname.endsWith(".safetensors")) fetched.push(r.url()); };
  context.on("request", log);
  await page.reload();
  await waitLoaded(page);
  context.off("request", log);
  assert.ok(fetched.length > 0, "the damaged piece was fetched again");
  await rank(page, CASE.instruction, CASE.candidates);
  checkAgainstReference(await shownResults(page), "q8");
  assert.equal(new Map(await pieceFiles(page)).get(victim), size, "the piece file is whole again");
  await page.close();
});

test("on a phone-sized screen nothing overflows the page", async () => {
  const page = await context.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${ORIGIN}/?model=/models/${FIXTURE}/`);
  await waitLoaded(page);
  const four = [...CASE.candidates, "A fourth, rather longer answer that has to wrap across several lines on a phone."];
  await rank(page, CASE.instruction, four);
  const layout = await page.evaluate(() => {
    const right = (sel) => Math.max(...[...document.querySelectorAll(sel)].map((e) => e.getBoundingClientRect().right));
    return {
      page: document.documentElement.scrollWidth,
      view: window.innerWidth,
      controls: right("textarea, button, .rank-item, .heatmap-wrap, h1"),
    };
  });
  assert.ok(layout.page <= layout.view, `page is ${layout.page}px wide in a ${layout.view}px screen`);
  assert.ok(layout.controls <= layout.view, `a control ends at ${layout.controls}px in a ${layout.view}px screen`);
  await page.screenshot({ path: join(ARTIFACTS, "phone.png"), fullPage: true });
  await page.close();
});

test("the CPU fallback computes with a thread per core on a cross-origin-isolated page, also on a host that sends no headers", async () => {
  // This server sends COOP/COEP (scripts/serve.mjs does by default): the threaded build runs.
  const page = await context.newPage();
  await page.goto(`${ORIGIN}/?model=/models/${FIXTURE}/&device=cpu&dtype=f32`);
  await waitLoaded(page);
  assert.equal(await page.evaluate(() => crossOriginIsolated), true);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  assert.equal(await page.getAttribute("#device-badge", "data-threads"), String(Math.max(1, cores)));
  await rank(page, CASE.instruction, CASE.candidates);
  checkAgainstReference(await shownResults(page));
  await page.close();

  // A host that sends no COOP/COEP (GitHub Pages): the service worker adds them
  // and the page reloads once, before loading the model, into the threaded
  // build; same results, and no further reloads.
  const port = PORT + 1000;
  const plain = await serve(["--root", join(ROOT, "dist"), "--port", String(port), "--no-isolation",
    "--mount", `/models=${join(ROOT, "tests", "fixtures")}`]);
  try {
    const other = await context.newPage();
    let navigations = 0;
    let reloaded;
    const reload = new Promise((resolve) => { reloaded = resolve; });
    other.on("framenavigated", (frame) => {
      if (frame === other.mainFrame() && ++navigations === 2) reloaded();
    });
    const first = await other.goto(`http://127.0.0.1:${port}/?model=/models/${FIXTURE}/&device=cpu&dtype=f32`);
    assert.equal(first.headers()["cross-origin-opener-policy"], undefined, "the host sends no isolation headers");
    await Promise.race([reload, new Promise((_, reject) => setTimeout(() => reject(new Error("no reload")), 60_000))]);
    await other.waitForLoadState("load");
    await waitLoaded(other);
    assert.equal(navigations, 2, "one reload into isolation");
    assert.equal(await other.evaluate(() => crossOriginIsolated), true);
    assert.equal(await other.getAttribute("#device-badge", "data-threads"), String(Math.max(1, cores)));
    assert.equal(await other.textContent("#device-badge"),
      cores > 1 ? `CPU · ${cores} threads · f32` : "CPU · f32");
    await rank(other, CASE.instruction, CASE.candidates);
    checkAgainstReference(await shownResults(other));
    await other.reload();
    await waitLoaded(other);
    assert.equal(navigations, 3, "no reload loop");
    assert.equal(await other.evaluate(() => crossOriginIsolated), true);
    await other.close();
  } finally {
    plain.kill();
  }
});

test("a 20 MB candidate ranks on the page: the worker reads only what the model keeps", async () => {
  const page = await context.newPage();
  await page.goto(`${ORIGIN}/?model=/models/${FIXTURE}/&device=cpu&dtype=f32`);
  await waitLoaded(page);
  await page.fill("#instruction", CASE.instruction);
  const areas = await page.$$(".candidate-text");
  await areas[1].fill("A short answer.");
  // The 20 MB text goes in last and Rank is clicked in the same task: the browser's layout of
  // that textarea can take longer than an action's wait for a stable element (a CI run timed
  // out filling the short candidate after it), and what is measured here is the ranking.
  const started = Date.now();
  await areas[0].evaluate((el) => {
    el.value = "lorem ipsum dolor sit amet ".repeat(800_000);
    document.getElementById("rank").click();
  });
  await page.waitForFunction(() => document.getElementById("rank").textContent === "Rank", null, { timeout: 120_000 });
  assert.equal(await page.$eval("#error", (e) => (e.hidden ? "" : e.textContent)), "");
  assert.equal((await shownResults(page)).items.length, 2);
  const shown = await page.$$eval(".cand-text", (els) => els.map((e) => e.textContent.length));
  assert.ok(Math.max(...shown) < 6000, `a long candidate is shown cut: ${shown}`);
  assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
  await page.close();
});

test("int8 by default; full precision (f32) is one click away and remembered", async () => {
  const page = await context.newPage();
  const dtypeShown = () => page.getAttribute("#device-badge", "data-dtype");
  const reloaded = async (want) => {
    await page.waitForFunction((d) => document.getElementById("device-badge").dataset.dtype === d
      && !document.getElementById("rank").disabled, want, { timeout: 240_000 });
  };
  await page.goto(`${ORIGIN}/?model=/models/${FIXTURE}/&device=cpu`);
  await waitLoaded(page);
  assert.equal(await dtypeShown(), "q8");
  assert.match(await page.textContent("#device-badge"), / · q8$/);
  assert.equal(await page.isChecked("#full-precision"), false);
  await rank(page, CASE.instruction, CASE.candidates);
  checkAgainstReference(await shownResults(page), "q8");

  await page.check("#full-precision");
  await reloaded("f32");
  await rank(page, CASE.instruction, CASE.candidates);
  checkAgainstReference(await shownResults(page), "f32");

  // Remembered by this browser; `?dtype=` still decides for one visit.
  await page.reload();
  await waitLoaded(page);
  assert.equal(await dtypeShown(), "f32");
  assert.equal(await page.isChecked("#full-precision"), true);
  await page.goto(`${ORIGIN}/?model=/models/${FIXTURE}/&device=cpu&dtype=q8`);
  await waitLoaded(page);
  assert.equal(await dtypeShown(), "q8");
  assert.equal(await page.isChecked("#full-precision"), false);
  // A click replaces the visit's `?dtype=`, and is remembered.
  await page.check("#full-precision");
  await reloaded("f32");
  assert.ok(!page.url().includes("dtype="), page.url());
  await page.uncheck("#full-precision");
  await reloaded("q8");
  await page.reload();
  await waitLoaded(page);
  assert.equal(await dtypeShown(), "q8");
  await page.close();
});

test("auto skips a software WebGPU adapter; on WebGPU a reload is as quick as a fresh browser's warm load", async () => {
  // This machine's only adapter is SwiftShader, a fallback one: "auto" computes on the CPU.
  const page = await context.newPage();
  await page.goto(`${ORIGIN}/?model=/models/${FIXTURE}/&dtype=f32`);
  await waitLoaded(page);
  const adapter = await page.evaluate(async () => {
    const a = await navigator.gpu?.requestAdapter();
    return a ? (a.info?.isFallbackAdapter ?? a.isFallbackAdapter ? "software" : "hardware") : "none";
  });
  assert.equal(await page.getAttribute("#device-badge", "data-device"), adapter === "hardware" ? "webgpu" : "cpu");
  await page.close();
  if (adapter === "none") return; // no WebGPU in this browser: nothing to reload on

  // Asked for by name, WebGPU: a first visit, two reloads of the tab, then the
  // same profile in a freshly started browser (nothing of an earlier page alive).
  const profile = tempDir("pairrm-reload-");
  const url = `${ORIGIN}/?model=/models/${FIXTURE}/&device=webgpu&dtype=f32`;
  const timed = async (p, go) => {
    const t = Date.now();
    await go();
    await waitLoaded(p);
    assert.equal(await p.getAttribute("#device-badge", "data-device"), "webgpu");
    await rank(p, CASE.instruction, CASE.candidates);
    checkAgainstReference(await shownResults(p));
    return Date.now() - t;
  };
  let browser = await chromium.launchPersistentContext(profile, LAUNCH);
  try {
    let tab = browser.pages()[0] || (await browser.newPage());
    await timed(tab, () => tab.goto(url));
    const reloads = [await timed(tab, () => tab.reload()), await timed(tab, () => tab.reload())];
    await browser.close();
    browser = await chromium.launchPersistentContext(profile, LAUNCH);
    tab = browser.pages()[0] || (await browser.newPage());
    const fresh = await timed(tab, () => tab.goto(url));
    // Load and ranking each; two seconds of slack for a model this small.
    for (const ms of reloads) assert.ok(ms <= 1.5 * fresh + 2000, `reloads ${reloads} ms, fresh browser ${fresh} ms`);
  } finally {
    await browser.close();
    removeTempDir(profile);
  }
});

// Last: it stops the server.
test("with the server gone, the page opens from the service worker and ranks from IndexedDB", async () => {
  const page = await context.newPage();
  const pageUrl = `${ORIGIN}/?model=/models/${FIXTURE}/`;
  await page.goto(pageUrl);
  await waitLoaded(page);
  // The shell is cached once the service worker is installed.
  await page.waitForFunction(async () => {
    await navigator.serviceWorker.ready;
    return !!(await caches.match("pkg/pairrm_web_bg.wasm"));
  }, null, { timeout: 60_000 });

  server.kill();
  await new Promise((resolve) => server.once("exit", resolve));
  await page.goto(pageUrl);
  await waitLoaded(page);
  await rank(page, CASE.instruction, CASE.candidates);
  checkAgainstReference(await shownResults(page), "q8");
  await page.close();
});
