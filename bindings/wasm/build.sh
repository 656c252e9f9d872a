#!/usr/bin/env bash
# Builds the package's WebAssembly module into pkg/: the release build of this crate (the
# size profile of Cargo.toml), wasm-bindgen's glue for `--target web` (an ES module whose
# init() a browser calls; node.js instantiates the same module synchronously), then
# `wasm-opt -Oz`. Needs on PATH: cargo with the wasm32-unknown-unknown target,
# wasm-bindgen at the version of Cargo.lock's wasm-bindgen, and wasm-opt (binaryen);
# ci.sh installs all three. Usage: bash bindings/wasm/build.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${CARGO_TARGET_DIR:-$here/target}"

cargo build --manifest-path "$here/Cargo.toml" --release --locked --target wasm32-unknown-unknown
raw="$target/wasm32-unknown-unknown/release/licet_wasm.wasm"
rm -rf "$here/pkg"
wasm-bindgen --target web --out-dir "$here/pkg" --out-name licet "$raw"
# rustc's wasm32 target enables these proposals by default (Rust 1.82 on), and every
# browser of the last years and Node 18 run them; wasm-opt must be told so, or it refuses
# the module. -Oz: the size is what a web page downloads.
wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$here/pkg/licet_bg.wasm" -o "$here/pkg/licet_bg.opt.wasm"
mv "$here/pkg/licet_bg.opt.wasm" "$here/pkg/licet_bg.wasm"
# wasm-bindgen writes a package.json and a .gitignore of its own into pkg/; the package's
# package.json is the one beside this script.
rm -f "$here/pkg/package.json" "$here/pkg/.gitignore"
