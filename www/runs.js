// @ts-check
// The Dataset view's saved run, in this browser's IndexedDB: the parsed rows,
// the options, and each row's result as it arrives, so a reload (or a crash)
// loses nothing and the run resumes at the first row without a result.
// Separate from the model cache (the wasm loader's database).
const DB_NAME = "pairrm-web-runs";

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let db = null;
async function open() {
  if (db) return db;
  const req = indexedDB.open(DB_NAME, 1);
  req.onupgradeneeded = () => {
    req.result.createObjectStore("run");
    req.result.createObjectStore("results");
  };
  db = await request(req);
  return db;
}

/** Runs `body(stores)` in one read-write transaction and waits for it to commit. */
async function write(body) {
  const tx = (await open()).transaction(["run", "results"], "readwrite");
  const done = new Promise((resolve, reject) => {
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("the browser refused to save the run (storage full?)"));
  });
  body(tx.objectStore("run"), tx.objectStore("results"));
  return done;
}

/** Starts a new run: `run` = {dataset, options, model}; earlier results go. */
export async function saveRun(run) {
  await write((runs, results) => {
    results.clear();
    runs.put(run, "current");
  });
}

/** Stores the results of rows `start`, `start + 1`, …. */
export async function saveResults(start, rows) {
  await write((_, results) => rows.forEach((r, k) => results.put(r, start + k)));
}

/** The saved run with its results (an array with a hole per row not yet done), or null. */
export async function loadRun() {
  const tx = (await open()).transaction(["run", "results"], "readonly");
  const run = await request(tx.objectStore("run").get("current"));
  if (!run) return null;
  const keys = await request(tx.objectStore("results").getAllKeys());
  const values = await request(tx.objectStore("results").getAll());
  const results = new Array(run.dataset.rows.length);
  keys.forEach((k, i) => {
    if (k < results.length) results[k] = values[i];
  });
  return { ...run, results };
}

export async function discardRun() {
  await write((runs, results) => {
    runs.clear();
    results.clear();
  });
}
