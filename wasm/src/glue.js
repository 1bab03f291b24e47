// Thin browser glue for the wasm crate: fetch with Range, streaming, IndexedDB and
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

// Where a dedicated worker runs (the page's), a piece's bytes go to a file of the
// origin-private file system and its record keeps only {file, size, hash, meta}: a
// synchronous access handle reads a file straight from disk, several times faster
// than IndexedDB hands back an 8 MB value (446 MB of q8 pieces: about 0.2 s against
// 1.4 s on 2 cores). Elsewhere (a page's main thread) records hold their bytes, as
// before; either kind is read anywhere. The file is written and flushed before its
// record, and the record's hash is checked on every read, so a file cut short by a
// stopped worker is dropped and fetched again, never used.
const PIECES_DIR = "pairrm-web-pieces";
let dirPromise = null;

function piecesDir() {
  if (!dirPromise) {
    dirPromise = navigator.storage.getDirectory()
      .then((root) => root.getDirectoryHandle(PIECES_DIR, { create: true }));
    dirPromise.catch(() => { dirPromise = null; });
  }
  return dirPromise;
}

/** Whether this context has an origin-private file system at all. */
function hasFileSystem() {
  return typeof navigator !== "undefined" && typeof navigator.storage?.getDirectory === "function";
}

/** Synchronous file handles exist only in dedicated workers. */
function inWorkerWithFiles() {
  return typeof FileSystemSyncAccessHandle !== "undefined" && hasFileSystem();
}

/** A file name for a record's key: two 32-bit FNV-1a hashes of it and its length. */
function fileName(key) {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x01000193 ^ 0x5bd1e995) >>> 0;
  }
  return `p-${a.toString(16).padStart(8, "0")}${b.toString(16).padStart(8, "0")}-${key.length}`;
}

async function writeFile(name, bytes) {
  const file = await (await piecesDir()).getFileHandle(name, { create: true });
  const handle = await file.createSyncAccessHandle();
  try {
    handle.truncate(0);
    let at = 0;
    while (at < bytes.length) {
      const n = handle.write(bytes.subarray(at), { at });
      if (n <= 0) throw new Error(`could not write ${name}`);
      at += n;
    }
    handle.flush();
  } finally {
    handle.close();
  }
}

/** A piece file's handle, or null when the file is gone. */
async function pieceFile(name) {
  try {
    return await (await piecesDir()).getFileHandle(name);
  } catch (e) {
    if (e?.name === "NotFoundError") return null;
    throw e;
  }
}

/**
 * `use` of a read-only synchronous handle on `file`, closed after. Read-only
 * handles may be open in several tabs at once (browsers without the mode take an
 * exclusive one: a second tab's read then fails and counts as a miss).
 */
async function withReadHandle(file, use) {
  const handle = await file.createSyncAccessHandle({ mode: "read-only" });
  try {
    return use(handle);
  } finally {
    handle.close();
  }
}

/** `step(at)` (bytes read at offset `at`) until `len` bytes or the file's end; how many were read. */
function readLoop(len, step) {
  let at = 0;
  while (at < len) {
    const n = step(at);
    if (n <= 0) break;
    at += n;
  }
  return at;
}

/** A file's bytes; empty when the file is gone (its record's hash then fails). */
async function readFile(name) {
  const file = await pieceFile(name);
  if (!file) return new Uint8Array(0);
  if (typeof FileSystemSyncAccessHandle === "undefined") {
    return new Uint8Array(await (await file.getFile()).arrayBuffer());
  }
  return withReadHandle(file, (handle) => {
    const out = new Uint8Array(handle.getSize());
    const n = readLoop(out.length, (at) => handle.read(out.subarray(at), { at }));
    return n === out.length ? out : out.subarray(0, n);
  });
}

/**
 * A file read straight into wasm memory at `ptr` (`len` bytes there), when it
 * holds exactly `len` bytes: how many bytes were read (0 when the file is gone
 * or of another length: its record's hash then fails). The view is made afresh
 * for each read, since a growing memory detaches earlier ones.
 */
async function readFileInto(name, memory, ptr, len) {
  const file = await pieceFile(name);
  if (!file) return 0;
  return withReadHandle(file, (handle) => {
    if (handle.getSize() !== len) return 0;
    return readLoop(len, (at) => {
      try {
        return handle.read(new Uint8Array(memory.buffer, ptr + at, len - at), { at });
      } catch (e) {
        if (!(e instanceof TypeError)) throw e;
        // A browser that refuses a shared memory's view (the threaded build):
        // through a buffer of its own, copied in.
        const part = new Uint8Array(len - at);
        const n = handle.read(part, { at });
        new Uint8Array(memory.buffer, ptr + at, n).set(part.subarray(0, n));
        return n;
      }
    });
  });
}

async function removeFile(name) {
  try {
    await (await piecesDir()).removeEntry(name);
  } catch (_) {
    // Absent already, or open in another tab: its record is gone, so it is never read.
  }
}

/** Stored record {bytes: Uint8Array, hash: string, meta: string} or undefined. */
export async function idbGet(key) {
  const record = await tx("readonly", (s) => s.get(key));
  if (!record || typeof record.file !== "string") return record;
  return { bytes: await readFile(record.file), hash: record.hash, meta: record.meta };
}

/** Whether idbGetInto reads piece files straight into wasm memory here (a worker's files). */
export function readsInto() {
  return inWorkerWithFiles();
}

/**
 * As idbGet where readsInto() holds, for a record of `len` bytes that the caller
 * has room for in wasm memory at `ptr`: a piece file is read straight there, and
 * the record comes back as {read: bytes read, hash, meta} (not copied again).
 */
export async function idbGetInto(key, memory, ptr, len) {
  const record = await tx("readonly", (s) => s.get(key));
  if (!record || typeof record.file !== "string") return record;
  return { read: await readFileInto(record.file, memory, ptr, len), hash: record.hash, meta: record.meta };
}

/** Store a record; rejects with the browser's error (QuotaExceededError included). */
export async function idbPut(key, bytes, hash, meta) {
  // Tests set this to play a full storage quota (browsers offer no switch for it).
  if (globalThis.__pairrmTestQuotaFull) {
    throw new DOMException("the storage quota is full (test)", "QuotaExceededError");
  }
  // Without the file system (a worker whose browser refuses it), bytes go in the record.
  if (!inWorkerWithFiles() || !(await piecesDir().then(() => true, () => false))) {
    await tx("readwrite", (s) => s.put({ bytes, hash, meta }, key));
    return;
  }
  const file = fileName(key);
  try {
    await writeFile(file, bytes);
    await tx("readwrite", (s) => s.put({ file, size: bytes.length, hash, meta }, key));
  } catch (e) {
    await removeFile(file);
    throw e;
  }
}

export async function idbDelete(key) {
  const record = await tx("readwrite", (s) => {
    const q = s.get(key);
    s.delete(key);
    return q;
  });
  if (typeof record?.file === "string") await removeFile(record.file);
}

export function idbKeys() {
  return tx("readonly", (s) => s.getAllKeys()).then((keys) => keys.map(String));
}

/** Every record and every piece file (also one whose record was never written). */
export async function idbClear() {
  await tx("readwrite", (s) => s.clear());
  if (!hasFileSystem()) return;
  try {
    await (await navigator.storage.getDirectory()).removeEntry(PIECES_DIR, { recursive: true });
  } catch (_) {
    // Nothing stored there, or a file open in another tab (records are gone either way).
  }
  dirPromise = null;
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
 * Whether WebGPU has an adapter that is not a software fallback (SwiftShader,
 * WARP: `isFallbackAdapter`). On a fallback adapter the GPU is emulated on the
 * CPU, far slower than the CPU engine, so "auto" does not take it.
 */
export async function hasHardwareWebGpu() {
  try {
    const adapter = hasWebGpu() ? await navigator.gpu.requestAdapter() : null;
    return !!adapter && !(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false);
  } catch {
    return false;
  }
}

/**
 * Read a response body whole, failing when more than `maxBytes` arrive (when
 * positive) or when no byte arrives for `stallMs` (when positive).
 */
async function readBody(resp, controller, maxBytes, stallMs) {
  const reader = resp.body.getReader();
  const parts = [];
  let length = 0;
  for (;;) {
    let timer;
    const stalled = stallMs > 0 ? new Promise((_, reject) => {
      timer = setTimeout(() => {
        const stall = new Error(`no data for ${stallMs / 1000} s: the download stalled`);
        reject(stall);
        controller.abort(stall);
      }, stallMs);
    }) : null;
    let step;
    try {
      step = await (stalled ? Promise.race([reader.read(), stalled]) : reader.read());
    } finally {
      clearTimeout(timer);
    }
    if (step.done) break;
    length += step.value.length;
    if (maxBytes > 0 && length > maxBytes) {
      controller.abort();
      throw new Error(`more than the ${maxBytes} bytes this file may have`);
    }
    parts.push(step.value);
  }
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const p of parts) { bytes.set(p, at); at += p.length; }
  return bytes;
}

/**
 * GET `url`, with a Range header when `end > start` (end exclusive).
 * Options: `timeoutMs` (give up after, when positive), `ifRange` (an ETag: the
 * server answers 200 with the whole file instead of 206 when the file is no
 * longer that version), `maxBytes` (refuse a larger body), `stallMs` (give up
 * when no byte arrives for that long).
 * Resolves {status, bytes, etag, lastModified, revision, total, ranged,
 * rangeStart, rangeEnd}: `ranged` is true for 206, `rangeStart`/`rangeEnd` are
 * what its Content-Range says (end exclusive; -1 when absent); `revision` is
 * the repository commit where the server names one (X-Repo-Commit). A 200 to a
 * Range request is not read (bytes empty): the caller decides what it means.
 */
export async function fetchBytes(url, start, end, options) {
  const { timeoutMs = 0, ifRange = "", maxBytes = 0, stallMs = 0, signal: caller } = options || {};
  const headers = {};
  if (end > start) {
    headers.Range = `bytes=${start}-${end - 1}`;
    // If-Range is not a CORS-safelisted header: cross-origin it would need a
    // preflight a model host may refuse. There the caller's check of the 206's
    // ETag and Content-Range notices a changed file just as well.
    if (ifRange && new URL(url, self.location.href).origin === self.location.origin) headers["If-Range"] = ifRange;
  }
  const controller = new AbortController();
  const signals = [controller.signal];
  if (timeoutMs > 0) signals.push(AbortSignal.timeout(timeoutMs));
  if (caller instanceof AbortSignal) signals.push(caller);
  const signal = signals.length > 1 ? AbortSignal.any(signals) : controller.signal;
  // A server that never answers counts as stalled too.
  const waiting = stallMs > 0 ? setTimeout(() => controller.abort(new Error(`no answer for ${stallMs / 1000} s: the download stalled`)), stallMs) : 0;
  let resp;
  try {
    resp = await fetch(url, { headers, cache: "no-store", signal });
  } finally {
    clearTimeout(waiting);
  }
  const revision = resp.headers.get("X-Repo-Commit") || "";
  const etag = resp.headers.get("ETag") || "";
  const lastModified = resp.headers.get("Last-Modified") || "";
  const length = Number(resp.headers.get("Content-Length") || 0);
  const base = { status: resp.status, etag, lastModified, revision, bytes: new Uint8Array(0), total: 0, ranged: false, rangeStart: -1, rangeEnd: -1 };
  if (!resp.ok || (end > start && resp.status !== 206)) {
    // An error, or the server ignored Range (or the file changed, with If-Range):
    // do not pull a whole (maybe huge) file into memory here.
    try { await resp.body.cancel(); } catch (_) { /* already closed */ }
    return { ...base, total: resp.ok ? length : 0 };
  }
  if (maxBytes > 0 && length > maxBytes) {
    try { await resp.body.cancel(); } catch (_) { /* already closed */ }
    throw new Error(`${length} bytes is more than the ${maxBytes} bytes this file may have`);
  }
  const bytes = await readBody(resp, controller, maxBytes, stallMs);
  if (resp.status !== 206) return { ...base, bytes, total: bytes.length };
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(resp.headers.get("Content-Range") || "");
  return {
    ...base,
    bytes,
    ranged: true,
    rangeStart: m ? Number(m[1]) : -1,
    rangeEnd: m ? Number(m[2]) + 1 : -1,
    total: m && m[3] !== "*" ? Number(m[3]) : 0,
  };
}

/** Open a streaming GET; resolves a reader handle or throws with the status. */
export async function openStream(url, signal) {
  const resp = await fetch(url, { cache: "no-store", signal: signal instanceof AbortSignal ? signal : undefined });
  if (!resp.ok) throw new Error(`GET ${url}: HTTP ${resp.status}`);
  return resp.body.getReader();
}

/**
 * Next piece of a stream as a Uint8Array, or undefined at the end; fails
 * (and cancels the stream) when nothing arrives for `stallMs` (when positive).
 */
export async function readStream(reader, stallMs) {
  let timer;
  const stalled = stallMs > 0 ? new Promise((_, reject) => {
    timer = setTimeout(() => {
      reader.cancel().catch(() => {});
      reject(new Error(`no data for ${stallMs / 1000} s: the download stalled`));
    }, stallMs);
  }) : null;
  try {
    const { done, value } = await (stalled ? Promise.race([reader.read(), stalled]) : reader.read());
    return done ? undefined : value;
  } finally {
    clearTimeout(timer);
  }
}
