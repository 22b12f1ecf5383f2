#!/usr/bin/env bash
# Prepares the IPADIC dictionary that lindera-ipadic 6.2 embeds, without downloading it
# from lindera's host (which CI and offline machines cannot reach). The result goes to
# .dict-cache/, which .cargo/config.toml points LINDERA_BUILD_DICTIONARY_CACHE_DIR at.
# Idempotent: does nothing when the cache is already there.
#
# Sources of the mecab-ipadic dictionary, in order:
#   1. the crates.io package lindera-ipadic 0.14.0, which ships the original tarball;
#   2. Debian's package mecab-ipadic (apt-get download; no install needed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.dict-cache"
out="$cache/6.2.0-fmt2/lindera-ipadic"
if [ -f "$out/metadata.json" ] && [ -f "$out/dict.words" ]; then
  echo "dictionary: cached at $out"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=""

# 1. crates.io: fetch the old crate (no build script runs on fetch) and take its tarball.
mkdir -p "$work/fetch/src"
cat > "$work/fetch/Cargo.toml" <<'TOML'
[package]
name = "ipadic-source-fetch"
version = "0.0.0"
edition = "2021"
[workspace]
[dependencies]
lindera-ipadic = { version = "=0.14.0", default-features = false }
TOML
echo 'fn main() {}' > "$work/fetch/src/main.rs"
if cargo fetch --quiet --manifest-path "$work/fetch/Cargo.toml" 2>"$work/fetch.log"; then
  crate=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/cache" -name 'lindera-ipadic-0.14.0.crate' | head -n 1)
  if [ -n "$crate" ]; then
    tar -xzf "$crate" -C "$work" lindera-ipadic-0.14.0/resources/mecab-ipadic-2.7.0-20070801.tar.gz
    src="$work/lindera-ipadic-0.14.0/resources/mecab-ipadic-2.7.0-20070801.tar.gz"
  fi
fi

# 2. Debian's package.
if [ -z "$src" ]; then
  echo "dictionary: crates.io source unavailable ($(tail -n 1 "$work/fetch.log")); trying Debian's mecab-ipadic"
  (cd "$work" && { apt-get download mecab-ipadic >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download mecab-ipadic; }; })
  dpkg-deb -x "$work"/mecab-ipadic_*.deb "$work/deb"
  src="$work/deb/usr/share/mecab/dic/ipadic"
fi

echo "dictionary: building from $src"
cargo run --quiet --release --manifest-path "$root/tools/ipadic-builder/Cargo.toml" \
  --target-dir "$cache/builder-target" -- "$src" "$out"
rm -rf "$cache/builder-target"
