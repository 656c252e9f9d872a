#!/usr/bin/env bash
# CI for the C ABI (bindings/c): the committed header matches the code (cbindgen, pinned),
# the C vector test runs every vector of test-vectors/vectors.json under valgrind, and the
# C++ example builds and verifies the example license. Installs what it needs itself.
# Run from anywhere: bash bindings/c/ci.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
CBINDGEN_VERSION=0.29.4
cache="${LICET_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/licet-ci}"
cbindgen="$cache/cbindgen-$CBINDGEN_VERSION/bin/cbindgen"
target="${CARGO_TARGET_DIR:-$PWD/target}/debug"

need_apt=()
command -v cc >/dev/null || need_apt+=(gcc)
command -v c++ >/dev/null || need_apt+=(g++)
command -v valgrind >/dev/null || need_apt+=(valgrind)
if [ "${#need_apt[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${need_apt[@]}"
fi
if [ ! -x "$cbindgen" ]; then
  cargo install --locked --quiet cbindgen --version "$CBINDGEN_VERSION" \
    --root "$cache/cbindgen-$CBINDGEN_VERSION"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/licet-c.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "-- header: include/licet.h is what cbindgen $CBINDGEN_VERSION makes from the code"
(cd bindings/c && "$cbindgen" --quiet --config cbindgen.toml --output "$tmp/licet.h")
if ! diff -u bindings/c/include/licet.h "$tmp/licet.h"; then
  echo "bindings/c/include/licet.h is stale: run (in bindings/c) cbindgen --config cbindgen.toml --output include/licet.h" >&2
  exit 1
fi

echo "-- library"
cargo build -p licet-c --locked --quiet
libs="$target/liblicet_c.a -lpthread -ldl -lm"

echo "-- C: every vector, under valgrind"
python3 bindings/c/tests/vectors_to_lines.py test-vectors/vectors.json >"$tmp/vectors.lines"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -g -Ibindings/c/include bindings/c/tests/vectors.c $libs \
  -o "$tmp/vectors"
valgrind -q --error-exitcode=1 --leak-check=full "$tmp/vectors" "$tmp/vectors.lines"

# The bench is never run here (CI asserts no time); compiling it keeps it from rotting.
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -Ibindings/c/include bindings/c/tests/bench.c $libs \
  -o "$tmp/bench"

echo "-- C++ example"
# shellcheck disable=SC2086
c++ -std=c++17 -Wall -Wextra -Werror -Ibindings/c/include bindings/c/examples/verify.cpp $libs \
  -o "$tmp/verify"
out="$("$tmp/verify" test-vectors/keys/signature.pem test-vectors/example-license.txt 1800000000)"
echo "$out"
grep -qx "export-pdf enabled" <<<"$out"
# A year after it expired, the same license is refused with Rust's code.
if out="$("$tmp/verify" test-vectors/keys/signature.pem test-vectors/example-license.txt 1932000000)"; then
  echo "the C++ example accepted an expired license" >&2
  exit 1
fi
echo "$out"
grep -qx "license refused: TOKEN_EXPIRED" <<<"$out"
