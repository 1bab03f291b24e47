// Shared by the browser tests and scripts: the local server and headless Chromium
// (Debian's, as root, offline, WebGPU on), launched the same way everywhere.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Start `scripts/serve.mjs` with `args`; resolves the child process once it listens. */
export async function serve(args) {
  const server = spawn("node", [join(ROOT, "scripts", "serve.mjs"), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise((resolve) => server.stdout.once("data", resolve));
  return server;
}

export const LAUNCH = {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  ignoreDefaultArgs: ["--headless"],
  args: ["--headless=new", "--no-sandbox", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--enable-unsafe-webgpu"],
};

/** A browser context with a fresh profile (`--user-data-dir`), so storage starts empty. */
export function launchContext(prefix, options = {}) {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), prefix)), { ...LAUNCH, ...options });
}

/** A browser whose contexts are incognito-like (nothing kept between them). */
export function launchBrowser() {
  return chromium.launch(LAUNCH);
}
