#!/usr/bin/env bash
# pairrm-web entry points.
#   ./build.sh serve   build, then serve the web page (the page lands with the browser issue; today: the CLI)
#   ./build.sh test    every test: native parity on CPU and wgpu, CLI, and the wasm32 build
#   ./build.sh bench   forward-pass benchmark at PairRM-large dims (CPU and wgpu)
#   ./build.sh setup   install what the others need (apt packages, rustup target); they call it
set -euo pipefail
cd "$(dirname "$0")"

setup() {
  local need=()
  command -v apt-get >/dev/null 2>&1 && {
    dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || need+=(mesa-vulkan-drivers)
    if [ ${#need[@]} -gt 0 ]; then
      local sudo=""
      [ "$(id -u)" -ne 0 ] && sudo=sudo
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
    fi
  }
  rustup target add wasm32-unknown-unknown >/dev/null
}

cmd="${1:-}"
case "$cmd" in
  setup)
    setup
    ;;
  serve)
    setup
    cargo build --release --bin pairrm
    echo
    echo "The web page is not built yet (it lands with the browser issue)."
    echo "The native CLI is ready: target/release/pairrm --help"
    echo "  echo '{\"instruction\":\"2+2?\",\"candidates\":[\"4\",\"5\"]}' | target/release/pairrm rank --model tests/fixtures/tiny-hf"
    ;;
  test)
    setup
    # Native: unit tests, parity with the reference fixtures on CPU and wgpu, CLI, loader.
    cargo test --release
    # The library must build for the browser.
    cargo build --release --lib --target wasm32-unknown-unknown
    echo "wasm32 build: ok"
    ;;
  bench)
    setup
    cargo build --release --bin pairrm
    shift
    target/release/pairrm bench --device all "$@"
    ;;
  *)
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
