#!/usr/bin/env bash
# pairrm-web entry points.
#   ./build.sh serve   build the wasm package and the page, then serve it at a printed local URL
#   ./build.sh dist    build the page into dist/ for a static host (see deploy/)
#   ./build.sh test    every test: native parity on CPU and wgpu, CLI, loader, the Python package, then the page in Chromium
#   ./build.sh bench   forward-pass benchmark at PairRM-large dims (CPU and wgpu)
#   ./build.sh setup   install what the others need (apt packages, rustup target); they call it
set -euo pipefail
cd "$(dirname "$0")"

WASM_PACK_VERSION=0.15.1
# Must equal the wasm-bindgen version pinned in Cargo.toml / Cargo.lock.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)

apt_install() {
  local need=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  [ ${#need[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
}

# Rust side: the wasm target and the pinned wasm tools (no downloads from GitHub).
setup_build() {
  rustup target add wasm32-unknown-unknown >/dev/null
  # std's source, rebuilt with atomics for the threaded wasm build.
  rustup component add rust-src >/dev/null
  if ! wasm-pack --version 2>/dev/null | grep -q "$WASM_PACK_VERSION"; then
    cargo install wasm-pack --version "=$WASM_PACK_VERSION" --locked
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    # Not --locked: its lock file pins a crate version the registry lacks.
    cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
  fi
}

# Test side: Vulkan on the CPU for native wgpu, Chromium and its driver, playwright-core.
setup_test() {
  command -v apt-get >/dev/null 2>&1 && apt_install mesa-vulkan-drivers chromium chromium-driver python3-venv
  { [ -d node_modules/playwright-core ] && [ -x node_modules/.bin/tsc ]; } || npm install --no-audit --no-fund --silent
}

# The threaded wasm build (rayon over Web Workers, shared memory), CPU only
# (wgpu's browser types may not cross threads): std is rebuilt with atomics. That needs -Z build-std, which RUSTC_BOOTSTRAP=1 allows
# on this stable toolchain for this one build (no second toolchain to fetch).
# Its own target dir: different RUSTFLAGS would otherwise rebuild everything
# each time the two builds alternate. Memory may grow to 4 GiB (the 1.74 GB
# model and its activations).
build_threads() {
  local target="${CARGO_TARGET_DIR:-$PWD/target}/wasm-threads"
  RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$target" \
  RUSTFLAGS='--cfg getrandom_backend="wasm_js" -C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128
    -C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296
    -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size
    -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base' \
    wasm-pack build wasm --target web --release --out-dir ../pkg/threads --out-name pairrm_web \
      -- --no-default-features --features threads -Z build-std=panic_abort,std
  rm -f pkg/threads/package.json pkg/threads/README.md pkg/threads/.gitignore
}

# The single-thread wasm build (WebGPU and the CPU fallback) into pkg/.
build_wasm() {
  rm -rf pkg # nothing of an earlier build (a renamed crate's snippets) may ship
  wasm-pack build wasm --target web --release --out-dir ../pkg --out-name pairrm_web
}

# wasm-pack → pkg/ (the npm package, with www/ bundled), and dist/ (the page).
build_web() {
  build_wasm
  build_threads
  package_web
}

# pkg/ (both builds) → the npm package and dist/.
package_web() {
  cp npm/README.md npm/index.js npm/index.d.ts LICENSE-MIT LICENSE-APACHE pkg/
  # wasm-bindgen drops the `?` of an optional parameter given a declared type:
  # every method's and function's options may be left out.
  for d in pkg/pairrm_web.d.ts pkg/threads/pairrm_web.d.ts; do
    sed -i 's/options: \([A-Za-z]*\))/options?: \1)/g' "$d"
  done
  rm -rf pkg/www && mkdir -p pkg/www && cp www/*.html www/*.js www/*.css pkg/www/
  node -e '
    const fs = require("fs");
    const p = JSON.parse(fs.readFileSync("pkg/package.json", "utf8"));
    // The npm package is pairrm-web, built from the pairrm-wasm crate.
    p.name = "pairrm-web";
    p.description = "PairRM, the pairwise reward model of LLM-Blender, in the browser: WebGPU with a CPU fallback, weights cached in IndexedDB";
    // index.js picks the threaded or the single-thread build at run time.
    p.main = p.module = "index.js";
    p.types = "index.d.ts";
    p.files = [...new Set([...(p.files || []), "index.js", "index.d.ts", "threads", "www", "snippets", "README.md",
      "LICENSE-MIT", "LICENSE-APACHE"])];
    // Where the code lives (npm provenance checks it against the repository that
    // publishes): PAIRRM_REPOSITORY, else a GitHub origin; left out when unknown.
    const repo = process.env.PAIRRM_REPOSITORY || (() => {
      try {
        const url = require("child_process").execSync("git remote get-url origin", { stdio: ["ignore", "pipe", "ignore"] })
          .toString().trim().replace(/^git@github\.com:/, "https://github.com/").replace(/\.git$/, "");
        return /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+$/.test(url) ? url : "";
      } catch {
        return "";
      }
    })();
    if (repo) p.repository = { type: "git", url: `git+${repo}.git` };
    fs.writeFileSync("pkg/package.json", JSON.stringify(p, null, 2) + "\n");'
  rm -rf dist && mkdir -p dist
  cp www/*.html www/*.js www/*.css dist/
  cp -r pkg dist/pkg
  # The files the service worker keeps for offline use (www/sw.js reads this list).
  (cd dist && find . -type f \( -name '*.html' -o -name '*.js' -o -name '*.css' -o -name '*.wasm' \) \
    ! -name sw.js ! -path './pkg/www/*' | sed 's|^\./||' | sort) \
    | node -e 'const l = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean);
               require("fs").writeFileSync("dist/shell-files.json", JSON.stringify(l, null, 1) + "\n");'
  echo "wasm (threaded): $(du -h pkg/threads/pairrm_web_bg.wasm | cut -f1)"
  echo "wasm: $(du -h pkg/pairrm_web_bg.wasm | cut -f1) ($(gzip -c pkg/pairrm_web_bg.wasm | wc -c | awk '{printf "%.1f MB", $1/1048576}') gzipped)"
}

# Damaged copies of a fixture for the browser tests' error paths.
prepare_broken_fixtures() {
  local out=target/web-fixtures src=tests/fixtures/tiny-hf
  rm -rf "$out"
  for d in truncated wrong-shape not-safetensors; do
    mkdir -p "$out/$d"
    cp "$src/config.json" "$src/spm.model" "$src/added_tokens.json" "$out/$d/"
  done
  head -c 300000 "$src/model.safetensors" > "$out/truncated/model.safetensors"
  cp tests/fixtures/tiny-trunc/model.safetensors "$out/wrong-shape/model.safetensors"
  echo "this is not a safetensors file" > "$out/not-safetensors/model.safetensors"
  # Served one at a time under /swap: two fixtures, and tiny-hf-v2, tiny-hf
  # with every 97th weight negated (same size and config, other results; its
  # own mtime, so its own ETag).
  cp -r tests/fixtures/tiny-hf tests/fixtures/tiny-trunc "$out/"
  mkdir -p "$out/tiny-hf-v2"
  cp "$src/config.json" "$src/spm.model" "$src/added_tokens.json" "$out/tiny-hf-v2/"
  node -e '
    const fs = require("fs");
    const b = fs.readFileSync(process.argv[1]);
    const start = 8 + Number(b.readBigUInt64LE(0));
    for (let at = start; at + 4 <= b.length; at += 4 * 97) b[at + 3] ^= 0x80;
    fs.writeFileSync(process.argv[2], b);' "$src/model.safetensors" "$out/tiny-hf-v2/model.safetensors"
  touch -d "2020-01-01 00:00:00" "$out/tiny-hf-v2/model.safetensors"
  # tiny-hf as `pairrm convert --dtype q8` writes it (the CLI was built by `cargo test`).
  "${CARGO_TARGET_DIR:-target}/release/pairrm" convert --model "$src" --out "$out/tiny-hf-q8" --dtype q8 >/dev/null
  # A config.json over its 1 MiB limit (valid JSON, padded).
  mkdir -p "$out/huge-config"
  cp "$src/spm.model" "$src/added_tokens.json" "$src/model.safetensors" "$out/huge-config/"
  node -e 'const fs = require("fs");
    fs.writeFileSync(process.argv[2], fs.readFileSync(process.argv[1], "utf8").trim() + " ".repeat(2 << 20));' \
    "$src/config.json" "$out/huge-config/config.json"
}

# wasm-bindgen-test in headless Chromium against a local server with Range support.
browser_unit_tests() {
  prepare_broken_fixtures
  # Ports apart from the e2e tests' (17000–21999), which may run meanwhile.
  local port=$((23000 + RANDOM % 1000))
  node scripts/serve.mjs --root dist --port "$port" --mount /models=tests/fixtures \
    --mount /broken=target/web-fixtures --swap /swap=target/web-fixtures \
    --hub /hub=tests/fixtures > target/test-server.log 2>&1 &
  local server=$!
  # The loader's paths for servers without Range, and for a download cut short.
  node scripts/serve.mjs --root dist --port "$((port + 1))" --mount /models=tests/fixtures --no-range \
    > target/test-server-no-range.log 2>&1 &
  local plain=$!
  node scripts/serve.mjs --root dist --port "$((port + 2))" --mount /models=tests/fixtures --no-range \
    --cut-after 300000 > target/test-server-cut.log 2>&1 &
  local cut=$!
  trap 'kill $server $plain $cut 2>/dev/null || true' RETURN
  sleep 1
  PAIRRM_TEST_SERVER="http://127.0.0.1:$port" WASM_BINDGEN_TEST_TIMEOUT=3600 \
    PAIRRM_TEST_SERVER_NO_RANGE="http://127.0.0.1:$((port + 1))" \
    PAIRRM_TEST_SERVER_CUT="http://127.0.0.1:$((port + 2))" \
    wasm-pack test --headless --chrome --chromedriver "$(command -v chromedriver)" --release wasm --test web
}

# The Python package as a user installs it: `pip install ./python` (maturin
# builds the wheel on the workspace's target dir, reusing what `cargo test
# --release` compiled except the crates that burn's Flex backend, on in the
# tests' build only, changes: ~2 minutes), into a virtual env of the test's own,
# then pytest (reference cases, TRL's judge, the CLI's numbers, Ray on a local
# cluster, a local hub server).
PY_VENV="${CARGO_TARGET_DIR:-$PWD/target}/py-venv"

# The test env for the Python package: what pytest needs besides the wheel.
# Mostly downloads, so `test` runs it in the background during the cargo build.
python_env() {
  mkdir -p "$(dirname "$PY_VENV")"
  [ -x "$PY_VENV/bin/python" ] || python3 -m venv "$PY_VENV"
  "$PY_VENV/bin/python" -m pip install -q --upgrade pip
  "$PY_VENV/bin/python" -m pip install -q pytest numpy tqdm "huggingface_hub>=0.19" "ray[data]>=2.9"
}

# The wheel, built as a user would (`pip install ./python`) on the workspace's
# target dir (see above).
python_tests() {
  local venv="$PY_VENV"
  "$venv/bin/python" -m pip install -q --force-reinstall --no-deps ./python
  (cd tests/python && "$venv/bin/python" -m pytest -q -p no:cacheprovider)
}

# `cargo test --release` in two steps, so that the test executables can run
# while cargo builds the wasm package (cargo holds the target dir's lock while
# it runs tests; the executables alone take no lock). The native tests spend
# much of their time in lavapipe's single-threaded shader compiles, leaving a
# core idle that the wasm build uses.
# First: compile every test executable (and the CLI the tests run) and list
# them, one "package dir<TAB>executable" per line, in $1.
compile_native_tests() {
  cargo test --release --no-run --message-format=json-render-diagnostics \
    | node -e '
      const path = require("path");
      for (const line of require("fs").readFileSync(0, "utf8").split("\n")) {
        if (!line.startsWith("{")) continue;
        const m = JSON.parse(line);
        if (m.reason === "compiler-artifact" && m.profile.test && m.executable)
          console.log(path.dirname(m.manifest_path) + "\t" + m.executable);
      }' > "$1"
  [ -s "$1" ] || { echo "cargo listed no test executables" >&2; return 1; }
}

# Then run them as cargo would (from the package's directory), every one even
# after a failure; the status says whether all passed.
run_native_tests() {
  local failed=() dir exe
  while IFS=$'\t' read -r dir exe; do
    echo "     Running $exe"
    (cd "$dir" && "$exe") || failed+=("$exe")
  done < "$1"
  [ ${#failed[@]} -eq 0 ] || { printf 'failed: %s\n' "${failed[@]}" >&2; return 1; }
}

# Jobs that run beside the foreground: output to a log, shown when awaited.
TEST_LOGS="${TMPDIR:-/tmp}/pairrm-test-logs"
declare -A BG_PID=()
start_bg() {
  local name=$1
  shift
  mkdir -p "$TEST_LOGS"
  "$@" > "$TEST_LOGS/$name.log" 2>&1 &
  BG_PID[$name]=$!
}
# Waits for a job, prints its output, and stops the run if it failed.
finish_bg() {
  local name=$1 rc=0
  wait "${BG_PID[$name]}" || rc=$?
  unset "BG_PID[$name]"
  echo "──── $name ────"
  cat "$TEST_LOGS/$name.log"
  [ "$rc" -eq 0 ] || { echo "$name failed (status $rc)" >&2; exit "$rc"; }
}
# A failed step leaves no job running behind it.
stop_bg() {
  local pid
  for pid in "${BG_PID[@]}"; do pkill -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
}

# The crates as they would be published: the core library, and the CLI with
# its sources only; nothing of the tests or the build (`include` in each
# Cargo.toml). The wasm crate ships through npm (pkg/), not crates.io.
check_crate_package() {
  local files
  files=$(cargo package -p pairrm-web --list --allow-dirty 2>/dev/null)
  for f in Cargo.toml README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE src/lib.rs src/model/mod.rs; do
    grep -qx "$f" <<<"$files" || { echo "the pairrm-web crate package lacks $f" >&2; return 1; }
  done
  if grep -E '^(tests|target|node_modules|www|scripts|cli|wasm|python)/' <<<"$files" >&2; then
    echo "the pairrm-web crate package holds files it should not (above)" >&2
    return 1
  fi
  files=$(cargo package -p pairrm-cli --list --allow-dirty 2>/dev/null)
  for f in Cargo.toml src/main.rs src/bench.rs; do
    grep -qx "$f" <<<"$files" || { echo "the pairrm-cli crate package lacks $f" >&2; return 1; }
  done
  if grep -E '^(tests|target)/' <<<"$files" >&2; then
    echo "the pairrm-cli crate package holds files it should not (above)" >&2
    return 1
  fi
}

cmd="${1:-}"
case "$cmd" in
  setup)
    setup_build
    setup_test
    ;;
  dist)
    setup_build
    build_web
    ;;
  serve)
    setup_build
    build_web
    port="${PORT:-8080}"
    echo
    echo "pairrm-web at http://127.0.0.1:$port/  (model: the Hugging Face repo)"
    echo "  with a local test model: http://127.0.0.1:$port/?model=/models/tiny-hf/"
    exec node scripts/serve.mjs --root dist --port "$port" --mount /models=tests/fixtures
    ;;
  test)
    setup_build
    setup_test
    # Native: unit tests, parity with the reference fixtures on CPU and wgpu, CLI, loader.
    # wgpu here is lavapipe (Vulkan emulated on the CPU): timing kernel variants
    # there measures nothing and can take many minutes per shape, so the tests
    # autotune minimally; every variant computes the same products.
    export CUBECL_AUTOTUNE_LEVEL=minimal
    # Browser profiles that hold a model are hundreds of MB. Everything the tests
    # put in the temp folder (Chromium's, playwright's, node's, Rust's, pytest's)
    # goes to one folder removed at the end: left behind run after run, they
    # filled this disk, and Chromium then refused the service worker its cache.
    free_gb=$(df -Pk "${TMPDIR:-/tmp}" | awk 'NR == 2 { print int($4 / 1048576) }')
    echo "free in ${TMPDIR:-/tmp}: ${free_gb} GB"
    [ "$free_gb" -ge 10 ] || echo "warning: under 10 GB free; browsers refuse storage on a nearly full disk" >&2
    TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/pairrm-test-run.XXXXXX")
    export TMPDIR
    trap 'stop_bg; rm -rf "$TMPDIR"' EXIT
    # The machine has two cores and most steps fill both; steps that leave
    # one idle (lavapipe, headless Chromium) run beside a build.
    start_bg python-env python_env
    tests_list="$TEST_LOGS/native-tests.txt"
    mkdir -p "$TEST_LOGS"
    compile_native_tests "$tests_list"
    cargo test --release --doc -p pairrm-web
    check_crate_package
    finish_bg python-env
    python_tests
    start_bg native-tests run_native_tests "$tests_list"
    # Browser: build the package and the page; wasm tests in headless Chromium
    # (WebGPU and CPU parity, Range, IndexedDB cache, resume, damage, bad files)
    # beside the threaded build (its own target dir, so no lock between them);
    # then the page and the packed npm package, driven by playwright-core.
    build_wasm
    start_bg browser-unit-tests browser_unit_tests
    build_threads
    package_web
    finish_bg native-tests
    node --test tests/e2e/
    finish_bg browser-unit-tests
    ;;
  bench)
    setup_test
    cargo build --release --bin pairrm
    shift
    target/release/pairrm bench --device all "$@"
    ;;
  *)
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
