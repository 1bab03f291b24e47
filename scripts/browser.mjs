// Shared by the browser tests and scripts: the local server and headless Chromium
// (Debian's, as root, offline, WebGPU on), launched the same way everywhere.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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

const madeDirs = new Set();
process.on("exit", () => {
  for (const dir of [...madeDirs]) removeTempDir(dir);
});

/**
 * A fresh directory under the system's temp folder, removed when this process exits.
 * A browser profile that holds a model is hundreds of MB: left behind run after run,
 * they filled this disk, and Chromium then refused the service worker's cache.
 */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  madeDirs.add(dir);
  return dir;
}

/**
 * Removes `dir` (made by `tempDir`) now rather than at exit. A browser's last
 * processes may still be writing to its profile: what cannot be removed yet is
 * tried again at exit, and a cleanup never fails a test.
 */
export function removeTempDir(dir) {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
    madeDirs.delete(dir);
  } catch {
    // left for the exit handler
  }
}

/**
 * A browser context with a fresh profile (`--user-data-dir`), so storage starts empty;
 * the profile is removed when the context closes.
 */
export async function launchContext(prefix, options = {}) {
  const profile = tempDir(prefix);
  const context = await chromium.launchPersistentContext(profile, { ...LAUNCH, ...options });
  context.on("close", () => removeTempDir(profile));
  return context;
}

/** A browser whose contexts are incognito-like (nothing kept between them). */
export function launchBrowser() {
  return chromium.launch(LAUNCH);
}
