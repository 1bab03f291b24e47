// The npm package: `npm pack` of pkg/, unpacked into a page that runs the
// README's example verbatim (only the model URL points at a local fixture).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, serve, launchBrowser } from "../../scripts/browser.mjs";

const PORT = 19000 + Math.floor(Math.random() * 1000);
const EXPECTED = JSON.parse(readFileSync(join(ROOT, "tests", "fixtures", "tiny-hf", "expected.json"), "utf8"));
const TOLERANCE = JSON.parse(readFileSync(join(ROOT, "tests", "tolerance.json"), "utf8")).logit;
const pick = (c, keys) => Object.fromEntries(keys.filter((k) => k in c).map((k) => [k, c[k]]));
const RANK = EXPECTED.rank[0];
const COMPARES = ["ab", "ba", "both"].map((mode) => EXPECTED.compare.find((c) => c.mode === mode));
const CONVERSATION = EXPECTED.conversations[0];
const BEST = EXPECTED.best_of_n.find((c) => c.mode === "full");
const REF = EXPECTED.rank_with_ref[0];
const TOKENIZE = EXPECTED.tokenize[0];
const FIXTURE_CASES = {
  rank: pick(RANK, ["instruction", "input", "candidates"]),
  compare: COMPARES.map((c) => pick(c, ["instruction", "input", "a", "b", "mode"])),
  conversation: pick(CONVERSATION, ["a", "b"]),
  bestOfN: { ...pick(BEST, ["instruction", "input", "candidates"]), mode: "full" },
  rankWithRef: pick(REF, ["instruction", "input", "candidates"]),
  tokenize: { text: TOKENIZE.text },
};
const DATASET = JSON.parse(readFileSync(join(ROOT, "tests", "fixtures", "tiny-hf", "dataset.json"), "utf8"));
const PAIRS_TEXT = readFileSync(join(ROOT, "tests", "fixtures", "datasets", "pairs.jsonl"), "utf8");
const RANKINGS_TEXT = readFileSync(join(ROOT, "tests", "fixtures", "datasets", "rankings.jsonl"), "utf8");
/** A JS string literal safe inside an inline <script> (the data holds "</script>"). */
const inline = (text) => JSON.stringify(text).replaceAll("<", "\\u003c");
const SITE = mkdtempSync(join(tmpdir(), "pairrm-npm-"));
let server;
let browser;

before(async () => {
  const tarball = execFileSync("npm", ["pack", join(ROOT, "pkg"), "--pack-destination", SITE, "--silent"], { encoding: "utf8" })
    .trim().split("\n").pop();
  const dest = join(SITE, "node_modules", "pairrm-web");
  mkdirSync(dest, { recursive: true });
  execFileSync("tar", ["-xzf", join(SITE, tarball), "-C", dest, "--strip-components=1"]);

  const readme = readFileSync(join(dest, "README.md"), "utf8");
  const code = /```js\n([\s\S]*?)```/.exec(readme)[1];
  assert.ok(code.split("\n").filter((l) => l.trim()).length <= 10, "the README example has at most ten lines");
  const example = code.replace("PairRM.load(undefined,", `PairRM.load("http://127.0.0.1:${PORT}/models/tiny-hf/",`)
    .replace(/^console\.log\((.*)\);$/m, "window.__log = [$1];");
  writeFileSync(join(SITE, "index.html"), `<!doctype html><meta charset="utf-8">
<script>
addEventListener("error", (e) => { window.__error = String(e.message); });
addEventListener("unhandledrejection", (e) => { window.__error = String(e.reason && e.reason.message || e.reason); });
</script>
<script type="importmap">{"imports": {"pairrm-web": "./node_modules/pairrm-web/index.js"}}</script>
<script type="module">
${example}
// Beyond the example (int8 by default): every method of the packed package
// on fixture cases, in full precision.
const cases = ${JSON.stringify(FIXTURE_CASES)};
const exact = await PairRM.load("http://127.0.0.1:${PORT}/models/tiny-hf/", { dtype: "f32" });
window.__fixture = {
  dtypes: [m.dtype, exact.dtype],
  rank: await exact.rank(cases.rank),
  compare: await Promise.all(cases.compare.map((c) => exact.compare(c))),
  conversation: await exact.compareConversations(cases.conversation),
  bestOfN: await exact.bestOfN(cases.bestOfN),
  rankWithRef: await exact.rankWithRef(cases.rankWithRef),
  tokenize: exact.tokenize(cases.tokenize),
};
// The dataset methods on the CPU fallback (SwiftShader's WebGPU does about 3
// rows/s; the browser tests check them on WebGPU).
const { parseDataset } = await import("pairrm-web");
const onCpu = await PairRM.load("http://127.0.0.1:${PORT}/models/tiny-hf/", { device: "cpu", dtype: "f32" });
window.__fixture.pairs = await onCpu.evaluatePairs(parseDataset(${inline(PAIRS_TEXT)}).rows, { seed: 5 });
window.__fixture.rankings = await onCpu.rankMany(parseDataset(${inline(RANKINGS_TEXT)}).rows);
window.__result = r;
</script>`);
  server = await serve(["--root", SITE, "--port", String(PORT), "--mount", `/models=${join(ROOT, "tests", "fixtures")}`]);
});

after(async () => {
  await browser?.close();
  server?.kill();
  rmSync(SITE, { recursive: true, force: true });
});

test("the packed tarball is ready to publish: metadata, entry points, both builds, the page", () => {
  const dest = join(SITE, "node_modules", "pairrm-web");
  const meta = JSON.parse(readFileSync(join(dest, "package.json"), "utf8"));
  const crateVersion = /^version = "(.*)"$/m.exec(readFileSync(join(ROOT, "Cargo.toml"), "utf8"))[1];
  assert.equal(meta.name, "pairrm-web");
  assert.equal(meta.version, crateVersion, "the npm and crate versions move together");
  assert.equal(meta.type, "module");
  assert.equal(meta.main, "index.js");
  assert.equal(meta.module, "index.js");
  assert.equal(meta.types, "index.d.ts");
  assert.equal(meta.license, "MIT OR Apache-2.0");
  for (const f of ["index.js", "index.d.ts", "pairrm_web.js", "pairrm_web.d.ts", "pairrm_web_bg.wasm",
    "threads/pairrm_web.js", "threads/pairrm_web_bg.wasm", "www/index.html", "www/app.js", "www/worker.js",
    "www/sw.js", "README.md", "LICENSE-MIT", "LICENSE-APACHE"]) {
    assert.ok(existsSync(join(dest, f)), `the tarball has ${f}`);
  }
  assert.ok(!existsSync(join(dest, "threads", "package.json")), "one package.json");
  // Set from the publishing repository (build.sh); a release refuses to publish without it.
  if (meta.repository) assert.match(meta.repository.url, /^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/);
});

test("each build runs its static constructors once, not on entry to every export", () => {
  // wasm-ld wraps every export in a call to __wasm_call_ctors ("<name>.command_export")
  // unless the code calls it itself (wasm/src/lib.rs, run_constructors): a load then
  // ran burn's GPU compiler registrations thousands of times.
  const dest = join(SITE, "node_modules", "pairrm-web");
  for (const f of ["pairrm_web_bg.wasm", "threads/pairrm_web_bg.wasm"]) {
    const wasm = readFileSync(join(dest, f));
    const names = WebAssembly.Module.customSections(new WebAssembly.Module(wasm), "name");
    assert.equal(names.length, 1, `${f} names its functions (the check below can see wrappers)`);
    assert.ok(!wasm.includes(".command_export"), `${f} wraps its exports in constructor calls`);
  }
});

test("the packed README example ranks in a page", async () => {
  browser = await launchBrowser();
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${PORT}/index.html`);
  await page.waitForFunction(() => window.__result || window.__error, null, { timeout: 240_000 });
  assert.equal(await page.evaluate(() => window.__error), undefined);
  const result = await page.evaluate(() => window.__result);
  assert.equal(result.ranks.length, 3);
  assert.ok(result.ranks.every((r) => [1, 2, 3].includes(r)) && result.ranks.includes(1), `ranks ${result.ranks}`);
  assert.equal(result.probabilities.length, 3);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      if (i !== j) assert.ok(Math.abs(result.probabilities[i][j] + result.probabilities[j][i] - 1) < 1e-9);
    }
  }
  // The packed package reproduces the reference on the fixture.
  const f = await page.evaluate(() => window.__fixture);
  const close = (got, want, what) => assert.ok(Math.abs(got - want) <= TOLERANCE, `${what}: ${got} vs reference ${want}`);
  assert.deepEqual(f.dtypes, ["q8", "f32"], "int8 unless asked for f32");
  assert.deepEqual(f.rank.ranks, RANK.ranks);
  RANK.logits.forEach((row, i) => row.forEach((v, j) => close(f.rank.logits[i][j], v, `rank logit[${i}][${j}]`)));
  f.compare.forEach((c, k) => close(c.value, COMPARES[k].value, `compare ${COMPARES[k].mode}`));
  close(f.conversation.value, CONVERSATION.value, "compareConversations");
  assert.equal(f.bestOfN.best, BEST.best);
  REF.scores.forEach((v, k) => close(f.rankWithRef.scores[k], v, `rankWithRef score ${k}`));
  assert.deepEqual(f.tokenize.ids, TOKENIZE.ids);
  DATASET.pairs.forEach((want, k) => {
    close(f.pairs.rows[k].value, want.value, `evaluatePairs row ${k}`);
    assert.equal(f.pairs.rows[k].truncated, want.truncated);
  });
  for (const k of ["n", "wins", "losses", "ties", "truncated"]) assert.equal(f.pairs.summary[k], DATASET.summary[k], k);
  close(f.pairs.summary.win_rate, DATASET.summary.win_rate, "win rate");
  DATASET.rankings.forEach((want, k) => {
    assert.deepEqual(f.rankings.rows[k].ranks, want.ranks);
    want.scores.forEach((v, i) => close(f.rankings.rows[k].scores[i], v, `rankMany row ${k} score ${i}`));
  });
  const log = await page.evaluate(() => window.__log);
  assert.ok(["webgpu", "cpu"].includes(log[0]), `device ${log[0]}`);
});
