#!/usr/bin/env bash
# Builds the package's two WebAssembly modules: pkg/ (the default entry, Ed25519 and
# RSA-PSS) and pkg-ed25519/ (the `@licet/verifier/ed25519` entry, the crate without its
# `rsa` feature: smaller, Ed25519 only). Each is the release build of this crate (the size
# profile of Cargo.toml), wasm-bindgen's glue for `--target web` (an ES module whose init()
# a browser calls; node.js instantiates the same module synchronously), then
# `wasm-opt -Oz`. Needs on PATH: cargo with the wasm32-unknown-unknown target,
# wasm-bindgen at the version of Cargo.lock's wasm-bindgen, and wasm-opt (binaryen);
# ci.sh installs all three. Usage: bash bindings/wasm/build.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${CARGO_TARGET_DIR:-$here/target}"

# build OUT_DIR CARGO_ARGS...
build() {
  local out="$here/$1"
  shift
  cargo build --manifest-path "$here/Cargo.toml" --release --locked --target wasm32-unknown-unknown "$@"
  rm -rf "$out"
  wasm-bindgen --target web --out-dir "$out" --out-name licet \
    "$target/wasm32-unknown-unknown/release/licet_wasm.wasm"
  # rustc's wasm32 target enables these proposals by default (Rust 1.82 on), and every
  # browser of the last years and Node 18 run them; wasm-opt must be told so, or it refuses
  # the module. -Oz: the size is what a web page downloads.
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$out/licet_bg.wasm" -o "$out/licet_bg.opt.wasm"
  mv "$out/licet_bg.opt.wasm" "$out/licet_bg.wasm"
  # wasm-bindgen writes a package.json and a .gitignore of its own; the package's
  # package.json is the one beside this script.
  rm -f "$out/package.json" "$out/.gitignore"
}

build pkg
# Beside pkg/, not inside it: both modules import the package's one verify-error.js as
# "../verify-error.js", so that a VerifyError of either is the same class.
build pkg-ed25519 --no-default-features
