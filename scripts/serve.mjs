#!/usr/bin/env node
// A small static server with HTTP Range support, for the page and local models.
//   node scripts/serve.mjs [--root dist] [--port 8080] [--mount /models=tests/fixtures]
//                          [--swap /swap=tests/fixtures] [--no-range] [--cut-after BYTES]
//                          [--no-isolation]
// Every response carries COOP/COEP, so the page is cross-origin isolated and
// the package can use its threaded wasm build; --no-isolation leaves them out
// (the single-thread build is used then, as on a host that does not send them).
// --no-range ignores Range headers (as some servers do); --cut-after drops each
// response after that many body bytes (a dropped download). --swap serves one
// sub-folder at a time, picked by /__swap?to=NAME (a model changed upstream).
// Tests use all three.
import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
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
  const swapped = swap && swap[2] ? [[swap[0], join(swap[1], swap[2])]] : [];
  for (const [prefix, dir] of [...swapped, ...mounts]) {
    if (path.startsWith(prefix)) return inside(dir, path.slice(prefix.length));
  }
  const file = inside(root, path);
  return file && (path.endsWith("/") ? join(file, "index.html") : file);
}

// Test controls: /__stats (requests per path), /__reset, /__drop?from=N (drop Range
// requests starting at byte N or later, like a dropped connection; /__drop?from=-1 stops),
// /__swap?to=NAME (see --swap).
const stats = {};
let dropFrom = -1;

function control(req, res) {
  const url = new URL(req.url, "http://x");
  const cors = { "Content-Type": "application/json", "Access-Control-Allow-Origin": "*", "Cache-Control": "no-store" };
  if (url.pathname === "/__stats") res.writeHead(200, cors).end(JSON.stringify(stats));
  else if (url.pathname === "/__reset") {
    for (const k of Object.keys(stats)) delete stats[k];
    res.writeHead(200, cors).end("{}");
  } else if (url.pathname === "/__swap" && swap) {
    swap[2] = (url.searchParams.get("to") || "").replace(/[^\w-]/g, "");
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
    "Access-Control-Allow-Headers": "Range",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, ETag, Accept-Ranges",
    ...isolation,
  };
  if (req.method === "OPTIONS") {
    res.writeHead(204, headers).end();
    return;
  }
  let start = 0;
  let end = stat.size; // exclusive
  let status = 200;
  const range = !noRange && req.headers.range && /^bytes=(\d*)-(\d*)$/.exec(req.headers.range);
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
    status = 206;
    headers["Content-Range"] = `bytes ${start}-${end - 1}/${stat.size}`;
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
