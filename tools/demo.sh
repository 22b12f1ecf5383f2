#!/usr/bin/env bash
# The demo (README quick start): builds kessai, serves the built-in sample corpus on
# 127.0.0.1, ingests it through the real pipeline into a fresh store and opens the reader.
# Extra arguments go to `kessai demo` (e.g. --no-tui).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/prepare-dictionary.sh
cargo build --release --locked --quiet
exec target/release/kessai demo "$@"
