// scripts/serve.mjs (what `./build.sh serve` runs) keeps requests inside the
// folders it serves and survives malformed URLs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "../../scripts/browser.mjs";

const PORT = 17000 + Math.floor(Math.random() * 1000);
const DIR = mkdtempSync(join(tmpdir(), "pairrm-serve-"));
let server;

/** A GET with the path sent as written (fetch would resolve `..` first). */
function get(path) {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: PORT, path, method: "GET" }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

before(async () => {
  // DIR/index.html is outside both served folders: the root DIR/site and the mount DIR/models.
  mkdirSync(join(DIR, "site"));
  mkdirSync(join(DIR, "models", "m"), { recursive: true });
  writeFileSync(join(DIR, "index.html"), "SECRET");
  writeFileSync(join(DIR, "site", "index.html"), "page");
  writeFileSync(join(DIR, "models", "m", "config.json"), "{}");
  server = await serve(["--root", join(DIR, "site"), "--port", String(PORT), "--mount", `/models=${join(DIR, "models")}`]);
});

after(() => {
  server?.kill();
  rmSync(DIR, { recursive: true, force: true });
});

test("paths with .. never leave the served folders", async () => {
  assert.equal((await get("/models/m/config.json")).status, 200);
  // At the root, `..` stays at the root (as a browser resolves it): the site's own page.
  assert.equal((await get("/..")).body, "page");
  assert.equal((await get("/%2e%2e/index.html")).body, "page");
  for (const path of ["/models/..", "/models/../", "/models/m/../..", "/models/%2e%2e", "/models/m/%2e%2e/%2e%2e/index.html"]) {
    const r = await get(path);
    assert.notEqual(r.body, "SECRET", `${path} served a file outside the mount`);
    assert.equal(r.status, 404, path);
  }
});

test("a malformed % escape gets 400 and the server keeps serving", async () => {
  const bad = await get("/models/%E0%A4%A");
  assert.equal(bad.status, 400);
  const page = await get("/");
  assert.equal(page.status, 200);
  assert.equal(page.body, "page");
  assert.equal(page.headers["cross-origin-embedder-policy"], "require-corp");
});
