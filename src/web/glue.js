// Thin browser glue for src/web: fetch with Range, streaming, IndexedDB and
// storage estimates. Policy (what to fetch, what to trust) lives in Rust.

const DB_NAME = "pairrm-web";
const STORE = "pieces";
let dbPromise = null;

function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      if (typeof indexedDB === "undefined") {
        reject(new Error("IndexedDB is not available"));
        return;
      }
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    dbPromise.catch(() => { dbPromise = null; });
  }
  return dbPromise;
}

function tx(mode, work) {
  return openDb().then((db) => new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const store = t.objectStore(STORE);
    let result;
    const req = work(store);
    if (req) req.onsuccess = () => { result = req.result; };
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error("IndexedDB transaction aborted"));
  }));
}

/** Stored record {bytes: Uint8Array, hash: string, meta: string} or undefined. */
export function idbGet(key) {
  return tx("readonly", (s) => s.get(key));
}

/** Store a record; rejects with the browser's error (QuotaExceededError included). */
export function idbPut(key, bytes, hash, meta) {
  return tx("readwrite", (s) => s.put({ bytes, hash, meta }, key)).then(() => undefined);
}

export function idbDelete(key) {
  return tx("readwrite", (s) => s.delete(key)).then(() => undefined);
}

export function idbKeys() {
  return tx("readonly", (s) => s.getAllKeys()).then((keys) => keys.map(String));
}

export function idbClear() {
  return tx("readwrite", (s) => s.clear()).then(() => undefined);
}

/** {usage, quota} in bytes, or zeros where the browser does not say. */
export async function storageEstimate() {
  try {
    const e = await navigator.storage.estimate();
    return { usage: e.usage || 0, quota: e.quota || 0 };
  } catch (_) {
    return { usage: 0, quota: 0 };
  }
}

export async function requestPersistence() {
  try {
    return await navigator.storage.persist();
  } catch (_) {
    return false;
  }
}

export function hasWebGpu() {
  return typeof navigator !== "undefined" && !!navigator.gpu;
}

/**
 * GET `url`, with a Range header when `end > start` (end exclusive), giving up
 * after `timeoutMs` when that is positive.
 * Resolves {status, bytes, etag, revision, total, ranged}; `ranged` is true for
 * 206; `revision` is the repository commit where the server names one (the
 * Hugging Face hub's X-Repo-Commit).
 */
export async function fetchBytes(url, start, end, timeoutMs) {
  const headers = end > start ? { Range: `bytes=${start}-${end - 1}` } : {};
  const signal = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
  const resp = await fetch(url, { headers, cache: "no-store", signal });
  const revision = resp.headers.get("X-Repo-Commit") || "";
  if (!resp.ok) {
    return { status: resp.status, bytes: new Uint8Array(0), etag: "", revision, total: 0, ranged: false };
  }
  const ranged = resp.status === 206;
  if (end > start && !ranged) {
    // The server ignored Range: do not pull a whole (maybe huge) file into memory here.
    try { await resp.body.cancel(); } catch (_) { /* already closed */ }
    const length = Number(resp.headers.get("Content-Length") || 0);
    return { status: resp.status, bytes: new Uint8Array(0), etag: resp.headers.get("ETag") || "", revision, total: length, ranged: false };
  }
  const range = resp.headers.get("Content-Range") || "";
  const slash = range.lastIndexOf("/");
  let total = slash >= 0 ? Number(range.slice(slash + 1)) : Number(resp.headers.get("Content-Length") || 0);
  if (!Number.isFinite(total)) total = 0;
  const bytes = new Uint8Array(await resp.arrayBuffer());
  if (!ranged) total = bytes.length;
  const etag = resp.headers.get("ETag") || "";
  return { status: resp.status, bytes, etag, revision, total, ranged };
}

/** Open a streaming GET; resolves a reader handle or throws with the status. */
export async function openStream(url) {
  const resp = await fetch(url, { cache: "no-store" });
  if (!resp.ok) throw new Error(`GET ${url}: HTTP ${resp.status}`);
  return resp.body.getReader();
}

/** Next piece of a stream as a Uint8Array, or undefined at the end. */
export async function readStream(reader) {
  const { done, value } = await reader.read();
  return done ? undefined : value;
}
