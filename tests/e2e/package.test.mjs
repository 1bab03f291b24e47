// The npm package: `npm pack` of pkg/, unpacked into a page that runs the
// README's example verbatim (only the model URL points at a local fixture).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, serve, launchBrowser } from "../../scripts/browser.mjs";

const PORT = 19000 + Math.floor(Math.random() * 1000);
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
window.__result = r;
</script>`);
  server = await serve(["--root", SITE, "--port", String(PORT), "--mount", `/models=${join(ROOT, "tests", "fixtures")}`]);
});

after(async () => {
  await browser?.close();
  server?.kill();
  rmSync(SITE, { recursive: true, force: true });
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
  const log = await page.evaluate(() => window.__log);
  assert.ok(["webgpu", "cpu"].includes(log[0]), `device ${log[0]}`);
});
