// @ts-check
// Keeps the page shell (HTML, scripts, styles, the wasm package) so the page
// opens offline after one visit. Model files are not handled here: the wasm
// loader caches them in IndexedDB, verified piece by piece.
//
// Network first, so an updated page is used as soon as it is reachable; the
// cached copy answers only when the network fails.
//
// Cross-origin isolation without the host's help: the shell's responses get
// COOP/COEP here when the host did not send them (GitHub Pages cannot), so
// the page can use the threaded CPU build. app.js reloads once after this
// worker takes control. COEP require-corp lets the model come from another
// origin only with CORS (the Hugging Face hub sends it; so must any host the
// model is fetched from, isolated or not, since the loader reads the bytes).
/** This script's global scope (tsc reads `self` as a plain worker's). */
const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
const CACHE = "pairrm-web-shell";
const ISOLATION = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};
// Written by build.sh: every file of the shell, relative to this script.
const MANIFEST = "shell-files.json";

sw.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    const files = await (await fetch(MANIFEST, { cache: "no-store" })).json();
    await cache.addAll(["./", ...files]);
    await sw.skipWaiting();
  })());
});

sw.addEventListener("activate", (event) => {
  event.waitUntil(sw.clients.claim());
});

function isShell(request) {
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== sw.location.origin) return false;
  if (!url.pathname.startsWith(new URL("./", sw.location.href).pathname)) return false;
  // Scripts are also fetched as data: the threaded build's thread workers start
  // from a helper script that wasm-bindgen-rayon fetch()es (destination "").
  return request.mode === "navigate"
    || ["script", "style", "worker", "document"].includes(request.destination)
    || url.pathname.endsWith(".wasm") || url.pathname.endsWith(".js");
}

/** `response` with the isolation headers, unless it has them already. */
function isolated(response) {
  if (response.type !== "basic" && response.type !== "default") return response;
  if (response.headers.get("Cross-Origin-Embedder-Policy")) return response;
  const headers = new Headers(response.headers);
  for (const [k, v] of Object.entries(ISOLATION)) headers.set(k, v);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

async function networkFirst(event) {
  const cache = await caches.open(CACHE);
  // The query (?model=…) does not change the shell: key by path.
  const url = new URL(event.request.url);
  url.search = "";
  url.hash = "";
  const key = url.href;
  try {
    const response = await fetch(event.request);
    if (response.ok && response.type === "basic") {
      const cached = await cache.match(key);
      const etag = response.headers.get("ETag");
      // A put that fails part-way stores nothing, so no half-written copy is kept.
      if (!cached || !etag || cached.headers.get("ETag") !== etag) {
        event.waitUntil(cache.put(key, response.clone()).catch(() => {}));
      }
    }
    return isolated(response);
  } catch (err) {
    const cached = await cache.match(key);
    if (cached) return isolated(cached);
    throw err;
  }
}

sw.addEventListener("fetch", (event) => {
  if (isShell(event.request)) event.respondWith(networkFirst(event));
});
