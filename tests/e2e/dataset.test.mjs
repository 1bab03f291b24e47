// End-to-end: the page's Dataset view on the tiny-hf fixture, against the
// values LLM-Blender recorded for the dataset fixtures (scripts/reference/dataset.py).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, serve, launchContext, tempDir } from "../../scripts/browser.mjs";

const PORT = 19000 + Math.floor(Math.random() * 1000);
const ORIGIN = `http://127.0.0.1:${PORT}`;
const ARTIFACTS = join(ROOT, "tests", "e2e", "artifacts");
const DATA = join(ROOT, "tests", "fixtures", "datasets");
const reference = JSON.parse(readFileSync(join(ROOT, "tests", "fixtures", "tiny-hf", "dataset.json"), "utf8"));
const TOLERANCE = JSON.parse(readFileSync(join(ROOT, "tests", "tolerance.json"), "utf8")).logit;
/** The fixture's short rows (not the ~1,600-token ones) repeated: long enough to cancel mid-run on the CPU. */
const REPEAT = 100;

let server;
let context;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await serve(["--root", join(ROOT, "dist"), "--port", String(PORT),
    "--mount", `/models=${join(ROOT, "tests", "fixtures")}`]);
  context = await launchContext("pairrm-dataset-", { viewport: { width: 1100, height: 1400 } });
});

after(async () => {
  await context?.close();
  server?.kill();
});

async function open(page) {
  // The CPU fallback: SwiftShader's WebGPU does about 3 rows/s here (the
  // browser tests check evaluatePairs and rankMany on WebGPU).
  await page.goto(`${ORIGIN}/?model=/models/tiny-hf/&device=cpu&dtype=f32#dataset`);
  await page.waitForFunction(() => !["loading…", "waiting"].includes(document.getElementById("device-badge").textContent),
    null, { timeout: 240_000 });
  assert.notEqual(await page.textContent("#device-badge"), "failed", await page.textContent("#error"));
}

async function pick(page, ...files) {
  await page.setInputFiles("#dataset-file", files);
  await page.waitForFunction(() => !document.getElementById("dataset-info").hidden
    || !document.getElementById("dataset-errors").hidden);
}

const summaryOf = (page) => page.$eval("#summary", (e) => JSON.parse(e.dataset.json || "null"));
const waitIdle = (page) => page.waitForFunction(() => document.getElementById("dataset-cancel").hidden
  && document.getElementById("dataset-progress").hidden, null, { timeout: 300_000 });

test("the Dataset view: reference win rate, cancel, reload and resume, downloads, bad files, markup as text", async () => {
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await open(page);

  // A malformed file: the bad row is named by its line.
  await pick(page, join(DATA, "malformed.jsonl"));
  assert.match(await page.textContent("#dataset-errors"), /line 3: missing field `output_b`/);
  assert.match(await page.textContent("#dataset-info"), /pairs \(JSONL\), 3 rows · 1 unreadable/);
  // Not a dataset at all: the file is refused with the reason.
  const junk = join(tempDir("pairrm-junk-"), "notes.csv");
  writeFileSync(junk, "a,b\n1,2\n");
  await pick(page, junk);
  assert.match(await page.textContent("#dataset-errors"), /notes\.csv: .*output_a/);
  assert.equal(await page.$eval("#dataset-run", (b) => b.disabled), true);

  // The fixture's CSV: every row's value and the win rate equal the reference's.
  await pick(page, join(DATA, "pairs.csv"));
  assert.equal(await page.$eval("#dataset-info", (e) => e.dataset.format), "pairs-csv");
  assert.equal(await page.$eval("#dataset-info", (e) => e.dataset.rows), "32");
  await page.click("#dataset-run");
  await waitIdle(page);
  const want = reference.summary;
  let s = await summaryOf(page);
  for (const k of ["n", "wins", "losses", "ties", "truncated"]) assert.equal(s[k], want[k], k);
  assert.ok(Math.abs(s.win_rate - want.win_rate) < 1e-12, `win rate ${s.win_rate} vs ${want.win_rate}`);
  assert.ok(s.ci[0] <= s.win_rate && s.win_rate <= s.ci[1]);
  assert.match(await page.textContent("#summary"), new RegExp(`${(100 * want.win_rate).toFixed(1)}%`));
  const values = await page.$$eval("#rows-table tbody tr", (rows) => rows.map((r) => [Number(r.dataset.row), Number(r.dataset.value)]));
  assert.equal(values.length, 32);
  for (const [k, v] of values) assert.ok(Math.abs(v - reference.pairs[k].value) <= TOLERANCE, `row ${k}: ${v}`);
  const bars = await page.$$eval("#histogram .bar", (b) => b.map((x) => Number(x.dataset.count)));
  assert.equal(bars.reduce((a, b) => a + b, 0), 32);
  // Sorting by value orders the rows by value.
  await page.click("#rows-table th:nth-child(5) button");
  await page.click("#rows-table th:nth-child(5) button");
  const sorted = await page.$$eval("#rows-table tbody tr", (rows) => rows.map((r) => Number(r.dataset.value)));
  assert.deepEqual(sorted, [...sorted].sort((a, b) => b - a));
  // Markup in outputs is shown as text and never runs.
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.$$eval("#rows-table img, #rows-table script, #rows-table b", (e) => e.length), 0);
  assert.ok((await page.textContent("#rows-table")).includes('<img src=x onerror="window.__pwned=1">'));
  await page.screenshot({ path: join(ARTIFACTS, "dataset.png"), fullPage: true });

  // A longer file (the short rows repeated): cancel mid-run, reload, resume.
  const lines = readFileSync(join(DATA, "pairs.jsonl"), "utf8").trim().split("\n");
  const short = lines.map((l, k) => k).filter((k) => lines[k].length < 2000);
  const big = join(tempDir("pairrm-big-"), "big.jsonl");
  writeFileSync(big, `${Array.from({ length: REPEAT }, () => short.map((k) => lines[k]).join("\n")).join("\n")}\n`);
  const total = short.length * REPEAT;
  const sub = short.map((k) => reference.pairs[k].value);
  const count = (f) => sub.filter(f).length * REPEAT;
  const bigWant = { n: total, wins: count((v) => v > 0), losses: count((v) => v < 0), ties: count((v) => v === 0) };
  await pick(page, big);
  await page.click("#dataset-run");
  await page.waitForFunction((n) => !document.getElementById("dataset-progress").hidden
    && Number(document.getElementById("dataset-progress").dataset.done) >= n, 16);
  assert.match(await page.textContent("#dataset-progress-text"), /rows\/s · .* left/);
  await page.click("#dataset-cancel");
  await waitIdle(page);
  assert.match(await page.textContent("#dataset-errors"), new RegExp(`Cancelled after \\d+ of ${total} rows`));
  const resumeText = await page.textContent("#dataset-run");
  const partial = Number((resumeText.match(/Resume \((\d+)\/\d+ done\)/) || [0, NaN])[1]);
  assert.ok(partial >= 8 && partial < total, `cancelled at ${partial}: ${resumeText}`);

  await page.reload();
  await open(page);
  assert.equal(await page.textContent("#dataset-run"), `Resume (${partial}/${total} done)`);
  assert.equal((await summaryOf(page)).n, partial, "the partial results survived the reload");
  await page.waitForFunction(() => !document.getElementById("dataset-run").disabled);
  await page.click("#dataset-run");
  await waitIdle(page);
  s = await summaryOf(page);
  for (const k of Object.keys(bigWant)) assert.equal(s[k], bigWant[k], k);
  assert.ok(Math.abs(s.win_rate - (bigWant.wins + bigWant.ties / 2) / total) < 1e-12);

  // Downloads: JSONL (one line per row, then the summary) and CSV.
  const [jsonl] = await Promise.all([page.waitForEvent("download"), page.click("#download-jsonl")]);
  const got = readFileSync(await jsonl.path(), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(got.length, total + 1);
  assert.deepEqual(got[total].summary, s);
  got.slice(0, total).forEach((row, k) => {
    const source = short[k % short.length];
    const r = reference.pairs[source];
    assert.equal(row.line, k + 1);
    assert.equal(row.output_a, JSON.parse(lines[source]).output_a);
    assert.ok(Math.abs(row.value - r.value) <= TOLERANCE, `downloaded row ${k}`);
    assert.equal(row.winner, r.value > 0 ? "a" : r.value < 0 ? "b" : "tie");
  });
  const [csv] = await Promise.all([page.waitForEvent("download"), page.click("#download-csv")]);
  const csvText = readFileSync(await csv.path(), "utf8");
  assert.ok(csvText.startsWith("line,instruction,input,output_a,output_b,value,probability,winner"));
  assert.ok(csvText.includes('"<img src=x onerror=""window.__pwned=1""><b>bold</b><script>window.__pwned=2</script>"'));

  // Two AlpacaEval files: joined, with the unmatched items named.
  await pick(page, join(DATA, "alpaca_model_a.json"), join(DATA, "alpaca_model_b.json"));
  assert.match(await page.textContent("#dataset-info"), /two AlpacaEval files\), 32 rows · A = model-a, B = model-b · 2 unreadable/);
  assert.match(await page.textContent("#dataset-errors"), /file A item 6: no output in file B/);
  await page.click("#dataset-swap");
  await page.waitForFunction(() => /A = model-b/.test(document.getElementById("dataset-info").textContent));
  assert.match(await page.textContent("#dataset-info"), /alpaca_model_b\.json \(A\) and alpaca_model_a\.json \(B\)/);
  assert.match(await page.textContent("#dataset-errors"), /file B item 6: no output in file A/);
  assert.deepEqual(pageErrors, []);
});
