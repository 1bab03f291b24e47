#!/usr/bin/env node
// A small static server with HTTP Range support, for the page and local models.
//   node scripts/serve.mjs [--root dist] [--port 8080] [--mount /models=tests/fixtures]
//                          [--swap /swap=tests/fixtures] [--no-range] [--cut-after BYTES]
//                          [--no-isolation] [--hub /hub=tests/fixtures]
// Every response carries COOP/COEP, so the page is cross-origin isolated and
// the package can use its threaded wasm build; --no-isolation leaves them out
// (the single-thread build is used then, as on a host that does not send them).
// --no-range ignores Range headers (as some servers do); --cut-after drops each
// response after that many body bytes (a dropped download). --swap serves one
// sub-folder at a time, picked by /__swap?to=NAME (a model changed upstream).
// Tests use all three (the browser tests run servers with --no-range and --cut-after). --hub serves /hub/NAME/resolve/REV/FILE from
// DIR/NAME/FILE for any REV, naming a commit in X-Repo-Commit as the Hugging
// Face hub does (/__commit?set=HEX changes it), and the hub's file list with
// each .safetensors file's sha256 at /api/models/HUB/NAME/tree/REV
// (/__digest?bad=1 makes it name a wrong one). /__etag?off=1 sends no ETag
// (a server whose only version signal is the size).
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import { createReadStream, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, normalize, resolve, sep } from "node:path";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const root = resolve(opt("--root", "dist"));
const port = Number(opt("--port", "8080"));
const noRange = args.includes("--no-range");
const cutAfter = Number(opt("--cut-after", "0"));
const isolation = args.includes("--no-isolation")
  ? {}
  : {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "cross-origin",
  };
// The page's own CSP (a meta tag in index.html) allows connections to its origin
// only. A worker is governed by its script's response headers instead: the model
// worker fetches weights from the model's origin (https, or this machine for
// local models), nothing else. A host serving dist/ should send the same (with
// `https:` narrowed to the model hosts it means to allow).
const SCRIPT_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
  + "connect-src 'self' https: http://localhost:* http://127.0.0.1:*; worker-src 'self' blob:";
const mounts = [];
args.forEach((a, i) => {
  if (a === "--mount") {
    const [prefix, dir] = args[i + 1].split("=");
    mounts.push([prefix.replace(/\/?$/, "/"), resolve(dir)]);
  }
});

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8", ".json": "application/json", ".wasm": "application/wasm", ".png": "image/png",
  ".ts": "text/plain; charset=utf-8", ".md": "text/markdown; charset=utf-8",
};

let swap = null; // [prefix, base folder, current sub-folder]
let swapLater = null; // [sub-folder, weight requests left before switching to it]
let hub = null; // [prefix, folder]
let commit = "c0ffee".padEnd(40, "0");
let badDigest = false;
let noEtag = false;

/** The hub API's file list of DIR/NAME: path, size, and sha256 for LFS files. */
function treeListing(name) {
  const dir = inside(hub[1], name);
  if (!dir) return null;
  try {
    return readdirSync(dir).map((path) => {
      const bytes = readFileSync(join(dir, path));
      const entry = { type: "file", path, size: bytes.length };
      if (path.endsWith(".safetensors")) {
        const oid = badDigest ? "0".repeat(64) : createHash("sha256").update(bytes).digest("hex");
        entry.lfs = { oid, size: bytes.length };
      }
      return entry;
    });
  } catch {
    return null;
  }
}
args.forEach((a, i) => {
  if (a === "--hub") {
    const [prefix, dir] = args[i + 1].split("=");
    hub = [prefix.replace(/\/?$/, "/"), resolve(dir)];
  }
});
args.forEach((a, i) => {
  if (a === "--swap") {
    const [prefix, dir] = args[i + 1].split("=");
    swap = [prefix.replace(/\/?$/, "/"), resolve(dir), ""];
  }
});

/** `rel` under `dir`, or null when it would leave `dir` (`..` segments). */
function inside(dir, rel) {
  const full = resolve(dir, `.${sep}${normalize(rel)}`);
  return full === dir || full.startsWith(dir + sep) ? full : null;
}

/** The file a URL path names, or null when the path leaves its folder. */
function locate(path) {
  if (hub && path.startsWith(hub[0])) {
    const m = /^([^/]+)\/resolve\/[^/]+\/(.*)$/.exec(path.slice(hub[0].length));
    return m ? inside(hub[1], `${m[1]}/${m[2]}`) : null;
  }
  const swapped = swap && swap[2] ? [[swap[0], join(swap[1], swap[2])]] : [];
  for (const [prefix, dir] of [...swapped, ...mounts]) {
    if (path.startsWith(prefix)) return inside(dir, path.slice(prefix.length));
  }
  const file = inside(root, path);
  return file && (path.endsWith("/") ? join(file, "index.html") : file);
}

// Test controls: /__stats (requests per path), /__reset, /__drop?from=N (drop Range
// requests starting at byte N or later, like a dropped connection; /__drop?from=-1 stops),
// /__swap?to=NAME[&after=K] (see --swap; with `after`, once K more Range requests for
// a weights file were answered: a file changed mid-download), /__lie?from=N (Range
// answers from byte N on name a wrong start in Content-Range), /__stall?from=N (Range
// requests from byte N on get headers, then nothing), /__commit?set=HEX (see --hub).
// Each `from=-1` stops it.
const stats = {};
let dropFrom = -1;
let lieFrom = -1;
let stallFrom = -1;

function control(req, res) {
  const url = new URL(req.url, "http://x");
  const cors = { "Content-Type": "application/json", "Access-Control-Allow-Origin": "*", "Cache-Control": "no-store" };
  if (url.pathname === "/__stats") res.writeHead(200, cors).end(JSON.stringify(stats));
  else if (url.pathname === "/__reset") {
    for (const k of Object.keys(stats)) delete stats[k];
    res.writeHead(200, cors).end("{}");
  } else if (url.pathname === "/__swap" && swap) {
    const to = (url.searchParams.get("to") || "").replace(/[^\w-]/g, "");
    const after = Number(url.searchParams.get("after") || 0);
    if (after > 0) swapLater = [to, after];
    else swap[2] = to;
    res.writeHead(200, cors).end("{}");
  } else if (url.pathname === "/__lie") {
    lieFrom = Number(url.searchParams.get("from") ?? -1);
    res.writeHead(200, cors).end("{}");
  } else if (url.pathname === "/__stall") {
    stallFrom = Number(url.searchParams.get("from") ?? -1);
    res.writeHead(200, cors).end("{}");
  } else if (url.pathname === "/__etag") {
    noEtag = url.searchParams.get("off") === "1";
    res.writeHead(200, cors).end("{}");
  } else if (url.pathname === "/__digest") {
    badDigest = url.searchParams.get("bad") === "1";
    res.writeHead(200, cors).end("{}");
  } else if (url.pathname === "/__commit") {
    commit = (url.searchParams.get("set") || "").replace(/[^0-9a-f]/g, "").padEnd(40, "0").slice(0, 40);
    res.writeHead(200, cors).end("{}");
  } else if (url.pathname === "/__drop") {
    dropFrom = Number(url.searchParams.get("from") ?? -1);
    res.writeHead(200, cors).end("{}");
  } else return false;
  return true;
}

const server = createServer((req, res) => {
  if (req.url.startsWith("/__") && control(req, res)) return;
  let path;
  try {
    path = decodeURIComponent(req.url.split("?")[0]);
  } catch {
    res.writeHead(400, { "Content-Type": "text/plain" }).end("malformed URL escape");
    return;
  }
  if (req.method !== "OPTIONS") stats[path] = (stats[path] || 0) + 1;
  const tree = hub && new RegExp(`^/api/models${hub[0]}([^/]+)/tree/[^/]+$`).exec(path);
  if (tree) {
    const listing = treeListing(tree[1]);
    res.writeHead(listing ? 200 : 404, { "Content-Type": "application/json", "Access-Control-Allow-Origin": "*", ...isolation })
      .end(JSON.stringify(listing || { error: "not found" }));
    return;
  }
  let file = locate(path);
  let stat;
  try {
    if (!file) throw new Error("outside the served folders");
    stat = statSync(file);
    if (stat.isDirectory()) {
      file = join(file, "index.html");
      stat = statSync(file);
    }
  } catch {
    res.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
    return;
  }
  const headers = {
    "Content-Type": TYPES[extname(file)] || "application/octet-stream",
    "Accept-Ranges": noRange ? "none" : "bytes",
    "ETag": `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`,
    "Cache-Control": "no-cache",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Range, If-Range",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, ETag, Accept-Ranges, X-Repo-Commit",
    ...isolation,
  };
  if (hub && path.startsWith(hub[0])) headers["X-Repo-Commit"] = commit;
  if (noEtag) delete headers.ETag;
  if (extname(file) === ".js" || extname(file) === ".mjs") headers["Content-Security-Policy"] = SCRIPT_CSP;
  if (req.method === "OPTIONS") {
    res.writeHead(204, headers).end();
    return;
  }
  let start = 0;
  let end = stat.size; // exclusive
  let status = 200;
  // If-Range with another version's ETag: the whole current file, as HTTP says.
  const current = !req.headers["if-range"] || req.headers["if-range"] === headers.ETag;
  const range = !noRange && current && req.headers.range && /^bytes=(\d*)-(\d*)$/.exec(req.headers.range);
  if (range) {
    start = range[1] === "" ? Math.max(0, stat.size - Number(range[2])) : Number(range[1]);
    end = range[1] !== "" && range[2] !== "" ? Math.min(stat.size, Number(range[2]) + 1) : stat.size;
    if (start >= stat.size || start >= end) {
      res.writeHead(416, { ...headers, "Content-Range": `bytes */${stat.size}` }).end();
      return;
    }
    if (dropFrom >= 0 && start >= dropFrom) {
      req.socket.destroy();
      return;
    }
    if (stallFrom >= 0 && start >= stallFrom) {
      res.writeHead(206, { ...headers, "Content-Range": `bytes ${start}-${end - 1}/${stat.size}`, "Content-Length": String(end - start) });
      res.flushHeaders();
      req.on("close", () => res.destroy());
      return;
    }
    status = 206;
    const shown = lieFrom >= 0 && start >= lieFrom ? start + 1 : start;
    headers["Content-Range"] = `bytes ${shown}-${end - 1}/${stat.size}`;
    if (swapLater && swap && path.startsWith(swap[0]) && path.endsWith(".safetensors") && --swapLater[1] <= 0) {
      swap[2] = swapLater[0];
      swapLater = null;
    }
  }
  headers["Content-Length"] = String(end - start);
  res.writeHead(status, headers);
  if (req.method === "HEAD" || end === start) {
    res.end();
    return;
  }
  const stream = createReadStream(file, { start, end: end - 1 });
  if (cutAfter > 0 && end - start > cutAfter) {
    let sent = 0;
    stream.on("data", (chunk) => {
      const room = cutAfter - sent;
      if (room <= 0) return;
      res.write(chunk.subarray(0, room));
      sent += Math.min(room, chunk.length);
      if (sent >= cutAfter) {
        stream.destroy();
        res.socket.destroy();
      }
    });
  } else {
    stream.pipe(res);
  }
});

server.listen(port, "127.0.0.1", () => {
  console.log(`serving ${root} at http://127.0.0.1:${port}/`);
  for (const [prefix, dir] of mounts) console.log(`  ${prefix} -> ${dir}`);
});
