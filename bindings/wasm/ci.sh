#!/usr/bin/env bash
# The WebAssembly binding's CI step: lint the crate, build the package's module (the size
# profile, wasm-bindgen, wasm-opt -Oz; the default module and the Ed25519-only one), run the
# Node tests (every vector of test-vectors/vectors.json through each module, the bad-input
# tests, the browser entries), run every vector in
# headless Chromium, run docs/bindings.md's JavaScript example, and check the TypeScript
# declarations with tsc.
# Installs what it needs itself: the rustup target wasm32-unknown-unknown, wasm-bindgen-cli
# at exactly the version of Cargo.lock's wasm-bindgen (`cargo install --locked`) and
# TypeScript (pinned, from npm) into ${XDG_CACHE_HOME:-$HOME/.cache}/licet-ci, and Debian's
# nodejs, npm, binaryen (wasm-opt) and chromium (the browser test) when missing.
# Usage: bash bindings/wasm/ci.sh   (from anywhere; needs cargo and rustup)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${LICET_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/licet-ci}"
TYPESCRIPT_VERSION=5.9.3
# The CLI must be the very version of the crate the module is built with: wasm-bindgen
# refuses a module whose schema version differs.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print }' "$here/Cargo.lock")"
[ -n "$WASM_BINDGEN_VERSION" ] || { echo "no wasm-bindgen in $here/Cargo.lock" >&2; exit 1; }

need_apt=()
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
command -v wasm-opt >/dev/null || need_apt+=(binaryen)
command -v chromium >/dev/null || need_apt+=(chromium)
if [ "${#need_apt[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown
wasm_bindgen_root="$cache/wasm-bindgen-cli-$WASM_BINDGEN_VERSION"
if [ ! -x "$wasm_bindgen_root/bin/wasm-bindgen" ]; then
  # Only the wasm-bindgen binary, and without the default rustls feature: TLS (rustls and
  # its crypto backend) serves the test runner's downloads, which nothing here uses. The
  # output is byte for byte the same; the cold install took 338 s instead of 1,401 s (on
  # the shared machine, under different loads: see docs/benchmarks.md).
  cargo install --locked --quiet wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" \
    --no-default-features --bin wasm-bindgen --root "$wasm_bindgen_root"
fi
tsc="$cache/typescript-$TYPESCRIPT_VERSION/node_modules/.bin/tsc"
if [ ! -x "$tsc" ]; then
  npm install --silent --no-audit --no-fund --prefix "$cache/typescript-$TYPESCRIPT_VERSION" \
    "typescript@$TYPESCRIPT_VERSION"
fi
export PATH="$wasm_bindgen_root/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/licet-wasm.XXXXXX")"
server=""
trap '[ -z "$server" ] || kill "$server" 2>/dev/null; rm -rf "$tmp"' EXIT

echo "-- lint (its own workspace, so the root's fmt and clippy do not see it)"
cargo fmt --manifest-path "$here/Cargo.toml" -- --check
cargo clippy --manifest-path "$here/Cargo.toml" --release --locked \
  --target wasm32-unknown-unknown -- -D warnings
cargo clippy --manifest-path "$here/Cargo.toml" --release --locked --no-default-features \
  --target wasm32-unknown-unknown -- -D warnings

echo "-- build: pkg/ and pkg-ed25519/ (node $(node --version), wasm-bindgen $WASM_BINDGEN_VERSION, $(wasm-opt --version))"
bash "$here/build.sh"
for wasm in "$here/pkg/licet_bg.wasm" "$here/pkg-ed25519/licet_bg.wasm"; do
  echo "module ${wasm#"$here/"}: $(wc -c <"$wasm") bytes, $(gzip -9 <"$wasm" | wc -c) gzipped (gzip -9)"
done

echo "-- node --test: every vector through both modules, bad input, the browser entries"
(cd "$here" && node --test tests/*.test.js)

# The package as an application gets it: `npm pack` (only what package.json's "files"
# names) unpacked as node_modules/@licet/verifier, resolved through "exports" and "types".
(cd "$here" && npm pack --silent --pack-destination "$tmp" >/dev/null)
mkdir -p "$tmp/app/node_modules/@licet/verifier"
tar -xzf "$tmp"/licet-verifier-*.tgz -C "$tmp/app/node_modules/@licet/verifier" --strip-components=1
echo "package: $(tar -tzf "$tmp"/licet-verifier-*.tgz | sort | tr '\n' ' ')"

echo "-- docs/bindings.md's JavaScript example, against test-vectors/"
"$root/.ci/doc-example" "$root/docs/bindings.md" js >"$tmp/app/verify.mjs"
cd "$root"
out="$(node "$tmp/app/verify.mjs" 1800000000)"
echo "$out"
grep -qx "export-pdf enabled" <<<"$out"
# A year after it expired, the same license is refused with Rust's code and exit status 1.
if out="$(node "$tmp/app/verify.mjs" 1932000000 2>&1)"; then
  echo "the JavaScript example accepted an expired license" >&2
  exit 1
fi
echo "$out"
grep -qx "license refused: TOKEN_EXPIRED" <<<"$out"

echo "-- TypeScript: tsc $TYPESCRIPT_VERSION --noEmit on a typed use of the package"
cp "$here/tests/types/usage.mts" "$here/tests/types/tsconfig.json" "$tmp/app/"
"$tsc" --project "$tmp/app/tsconfig.json"

echo "-- headless Chromium: every vector through browser.js and init(), served on 127.0.0.1"
site="$tmp/site"
mkdir -p "$site/wasm"
cp -r "$tmp/app/node_modules/@licet/verifier/." "$site/wasm/"
cp -r "$root/test-vectors/keys" "$root/test-vectors/vectors.json" "$here/tests/browser/index.html" "$site/"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$site" >"$tmp/http.log" 2>&1 &
server=$!
for _ in $(seq 50); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/index.html')" 2>/dev/null && break
  sleep 0.1
done
# --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
  --user-data-dir="$tmp/chromium" --virtual-time-budget=30000 \
  --dump-dom "http://127.0.0.1:$port/index.html" 2>/dev/null >"$tmp/dom.html" || true
python3 - "$tmp/dom.html" "$root/test-vectors/vectors.json" <<'PY'
import html, json, re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
found = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
result = html.unescape(found.group(1)) if found else "(no result: the page did not load)"
print(result)
count = len(json.load(open(sys.argv[2]))["vectors"])
sys.exit(0 if f"\n{count} passed, 0 failed\n" in f"\n{result}\n" else 1)
PY
