// The package's TypeScript types: the npm README example type-checks with
// `tsc --strict` against the packed declarations, and a request with a
// misspelt field or a wrong mode does not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../scripts/browser.mjs";

const TSC = join(ROOT, "node_modules", ".bin", "tsc");

/** Type-check `code` as a module importing "pairrm-web" (pkg/); the compiler's output, or "" when it passes. */
function typecheck(code) {
  const dir = mkdtempSync(join(tmpdir(), "pairrm-types-"));
  try {
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(join(ROOT, "pkg"), join(dir, "node_modules", "pairrm-web"));
    writeFileSync(join(dir, "example.ts"), code);
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, target: "es2022", module: "es2022", moduleResolution: "bundler",
        lib: ["esnext", "dom"], skipLibCheck: false,
      },
      files: ["example.ts"],
    }));
    try {
      execFileSync(TSC, ["-p", dir], { encoding: "utf8" });
      return "";
    } catch (err) {
      return String(err.stdout || err.message);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("the npm README example type-checks against the package's declarations", () => {
  const readme = readFileSync(join(ROOT, "pkg", "README.md"), "utf8");
  const example = /```js\n([\s\S]*?)```/.exec(readme)[1];
  assert.equal(typecheck(`${example}\nexport {};\n`), "");
  // Results are typed, not `any`.
  const typed = `${example}
const best: number = r.ranks[0];
const p: number = r.probabilities[0][1];
const c = await m.compare({ instruction: "i", a: "x", b: "y", mode: "both" });
const won: boolean = c.result;
export {};
`;
  assert.equal(typecheck(typed), "");
});

test("requests with a misspelt field or an unknown mode do not type-check", () => {
  const base = `import init, { PairRM } from "pairrm-web";\nawait init();\nconst m = await PairRM.load(undefined);\n`;
  const wrongMode = typecheck(`${base}await m.compare({ instruction: "i", a: "x", b: "y", mode: "sideways" });\nexport {};\n`);
  assert.match(wrongMode, /sideways/);
  const misspelt = typecheck(`${base}await m.rank({ instruction: "i", candidate: ["a", "b"] });\nexport {};\n`);
  assert.match(misspelt, /candidate/);
  const notANumber = typecheck(`${base}const r = await m.rank({ instruction: "i", candidates: ["a", "b"] });\nconst s: string = r.scores[0];\nexport {};\n`);
  assert.match(notANumber, /number.*string|string.*number/);
});

test("rejections are typed by name and kind, and an unknown kind does not type-check", () => {
  const base = `import init, { PairRM, type PairRMError } from "pairrm-web";\nawait init();\n`;
  const ok = typecheck(`${base}try {
  await PairRM.load(undefined);
} catch (e) {
  const err = e as PairRMError;
  const cancelled: boolean = err.name === "AbortError";
  const badInput: boolean = err.kind === "input";
  const message: string = err.message;
}
export {};
`);
  assert.equal(ok, "");
  const unknownKind = typecheck(`${base}const e = {} as PairRMError;\nconst b: boolean = e.kind === "cancelld";\nexport {};\n`);
  assert.match(unknownKind, /cancelld/);
});

test("the npm README's dataset example type-checks, its results are typed, a misspelt row field is caught", () => {
  const readme = readFileSync(join(ROOT, "pkg", "README.md"), "utf8");
  const [first, datasets] = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(datasets.includes("evaluatePairs"), "the second example is the dataset one");
  const typed = `${first}${datasets}
const w: number | null = summary.win_rate;
const who: "a" | "b" | "tie" = rows[0].winner;
const firsts: number[] = ranked.summary.firsts;
import { parseDataset, summarizePairs } from "pairrm-web";
const parsed = parseDataset("{}");
const kind: "pairs" | "rankings" = parsed.kind;
const again = summarizePairs(rows, { seed: 1 });
const ci: [number, number] | null = again.ci;
export {};
`;
  assert.equal(typecheck(typed), "");
  const misspelt = typecheck(`${first}await m.evaluatePairs([{ instruction: "i", output_a: "x", outputB: "y" }]);\nexport {};\n`);
  assert.match(misspelt, /outputB|output_b/);
});

/** Run tsc on a project file; its output, or "" when it passes. */
function tsc(project) {
  try {
    execFileSync(TSC, ["-p", project], { encoding: "utf8" });
    return "";
  } catch (err) {
    return String(err.stdout || err.message);
  }
}

test("the page's scripts type-check with tsc --checkJs (the worker against the built package)", () => {
  assert.equal(tsc(join(ROOT, "www", "tsconfig.json")), "");
  assert.equal(tsc(join(ROOT, "www", "tsconfig.worker.json")), "");
});

test("a worker message that is not in the protocol does not type-check", () => {
  const dir = mkdtempSync(join(tmpdir(), "pairrm-protocol-"));
  try {
    const check = (line) => {
      writeFileSync(join(dir, "use.js"), `// @ts-check\nimport { toWorker, toPage } from ${JSON.stringify(join(ROOT, "www", "protocol.js"))};\n${line}\n`);
      writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
        extends: join(ROOT, "www", "tsconfig.json"),
        files: [join(dir, "use.js")],
      }));
      return tsc(dir);
    };
    assert.equal(check(`toWorker(null, { type: "rank", id: 1, instruction: "i", input: "", candidates: ["a", "b"] });`), "");
    assert.match(check(`toWorker(null, { type: "rank", id: 1, instruction: "i", input: "", candidate: ["a", "b"] });`), /candidate/);
    assert.match(check(`toWorker(null, { type: "rnak", id: 1 });`), /rnak/);
    assert.match(check(`toPage({ type: "probed", url: "u", trusted: false, size: "big", cached: false });`), /size|string/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
