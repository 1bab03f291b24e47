#!/usr/bin/env bash
# Fuzz every parser of outside bytes with libFuzzer (cargo-fuzz; the targets
# are in fuzz/, their bodies in src/fuzz.rs).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    (default: 600 s, every target)
#   JOBS=2 scripts/fuzz.sh 600                           (targets side by side)
#
# Inputs: fuzz/seeds/<target> (made by hand: the fixtures' files, one request
# of each kind, texts in several scripts) and fuzz/corpus/<target>. New inputs
# go to target/fuzz/work/<target>; at the end fuzz/corpus/<target> is remade,
# minimized, from itself and them, keeping at most KEEP (60) inputs of at most
# 8 KiB, spread over their sizes: what `./build.sh test` replays stays small. A crash, hang
# (over 10 s) or over-allocation (RSS over 2 GiB) stops that target and
# leaves the input in fuzz/artifacts/<target>/: fix it, then keep the input
# in fuzz/findings/<target>/ so that `./build.sh test` replays it
# (tests/fuzz_corpus.rs). Not part of CI: it needs its own instrumented build.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^pairrm-web-fuzz$')
fi
jobs="${JOBS:-1}"
keep="${KEEP:-60}"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
# cargo-fuzz passes nightly flags; the stable toolchain accepts them so.
export RUSTC_BOOTSTRAP=1
# No sanitizer: the parsers are safe Rust, and without ASan the build is
# quicker and runs several times more inputs a second; libFuzzer still
# catches panics, hangs and RSS over the limit. Debug assertions on: integer
# overflow panics.
flags=(-s none -a --codegen-units 16 --target-dir target/fuzz)
cargo fuzz build "${flags[@]}"

run_one() {
  local t="$1" work="target/fuzz/work/$1"
  mkdir -p "$work" "fuzz/corpus/$t" "fuzz/seeds/$t" "fuzz/artifacts/$t"
  echo "== $t: $secs s"
  local rc=0
  cargo fuzz run "${flags[@]}" "$t" "$work" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"target/fuzz/$t.log" 2>&1 || rc=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)" "target/fuzz/$t.log" | sed "s/^/$t: /" || true
  if [ "$rc" -ne 0 ]; then
    echo "$t: FAILED (rc $rc): see target/fuzz/$t.log and fuzz/artifacts/$t/"
    return 1
  fi
  # A fresh corpus from the kept one and the new inputs: the smallest
  # inputs that together reach all the code they reach.
  local merged="target/fuzz/merged/$t"
  rm -rf "$merged" && mkdir -p "$merged"
  cargo fuzz run "${flags[@]}" "$t" "$merged" "fuzz/corpus/$t" "$work" -- \
    -merge=1 -timeout=10 -rss_limit_mb=2048 >"target/fuzz/$t.merge.log" 2>&1
  find "$merged" -type f -size +8k -delete
  # Keep KEEP spread evenly over the sizes (the smallest alone are trivial).
  ls -S -r "$merged" | awk -v k="$keep" '
    { name[NR] = $0 }
    END {
      if (NR <= k) exit
      for (j = 0; j < k; j++) kept[1 + int(j * (NR - 1) / (k - 1) + 0.5)] = 1
      for (i = 1; i <= NR; i++) if (!(i in kept)) print name[i]
    }' | sed "s|^|$merged/|" | xargs -r rm --
  rm -rf "fuzz/corpus/$t" && mv "$merged" "fuzz/corpus/$t"
  echo "$t: corpus $(ls "fuzz/corpus/$t" | wc -l) inputs, $(du -sh "fuzz/corpus/$t" | cut -f1)"
}

status=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
