#!/usr/bin/env bash
# The test command (README quick start): prepares the offline dictionary if needed, checks
# that the sample corpus matches its sources, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/prepare-dictionary.sh
if [ -f assets/corpus/generate.py ]; then
  python3 assets/corpus/generate.py --check
fi
cargo test --locked "$@"
