#!/usr/bin/env bash
# CI for the C ABI (bindings/c): the committed header matches the code (cbindgen, pinned),
# the C vector test runs every vector of test-vectors/vectors.json under valgrind,
# licet_fingerprint gives what `licet fingerprint` gives, and the C and C++ examples of
# docs/bindings.md build and verify the example license. Installs what it needs itself.
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

echo "-- library (and the \`licet\` command, which licet_fingerprint must agree with)"
cargo build -p licet-c -p licet-cli --locked --quiet
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

echo "-- licet_fingerprint: bad arguments, then the same value as the Rust side"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -g -Ibindings/c/include bindings/c/tests/fingerprint.c $libs \
  -o "$tmp/fingerprint"
fingerprint_matches_cli() {
  local from_c
  if ! from_c="$(valgrind -q --error-exitcode=1 --leak-check=full "$tmp/fingerprint" \
    acme-studio-pro other-vendor-app)"; then
    echo "$from_c" >&2
    return 1
  fi
  [ "$(wc -l <<<"$from_c")" -eq 2 ] || { echo "expected two fingerprints: $from_c" >&2; return 1; }
  [ "$from_c" = "$("$target/licet" fingerprint --product acme-studio-pro
                    "$target/licet" fingerprint --product other-vendor-app)" ] ||
    { echo "licet_fingerprint and \`licet fingerprint\` disagree (${LICET_MACHINE_ID:+LICET_MACHINE_ID set, }C gave: $from_c)" >&2; return 1; }
  [ "$(sort -u <<<"$from_c" | wc -l)" -eq 2 ] || { echo "two products, one fingerprint" >&2; return 1; }
}
# This machine's own id, then the LICET_MACHINE_ID override.
(unset LICET_MACHINE_ID; fingerprint_matches_cli)
LICET_MACHINE_ID=container-7f3a fingerprint_matches_cli

tamper() { python3 bindings/c/tests/tamper.py test-vectors/example-license.txt; }

echo "-- docs/bindings.md's C example, linked with the shared library"
python3 .ci/doc-example docs/bindings.md c >"$tmp/verify.c"
cc -std=c11 -Wall -Wextra -Werror -g -Ibindings/c/include "$tmp/verify.c" -L"$target" -llicet_c \
  -Wl,-rpath,"$target" -o "$tmp/verify-c"
out="$(valgrind -q --error-exitcode=3 --leak-check=full \
  "$tmp/verify-c" test-vectors/keys/signature.pem test-vectors/example-license.txt 1800000000)"
echo "$out"
grep -qx "license valid for acme-studio-pro" <<<"$out"
grep -qx "feature export-pdf" <<<"$out"
tamper >"$tmp/tampered.txt"
status=0
out="$(valgrind -q --error-exitcode=3 --leak-check=full \
  "$tmp/verify-c" test-vectors/keys/signature.pem "$tmp/tampered.txt" 1800000000)" || status=$?
echo "$out"
[ "$status" -eq 1 ] || { echo "the C example exited $status on a tampered license, not 1" >&2; exit 1; }
grep -qx "license refused: SIGNATURE_INVALID" <<<"$out"

echo "-- docs/bindings.md's C++ example, linked with the static library"
python3 .ci/doc-example docs/bindings.md cpp >"$tmp/verify.cpp"
# shellcheck disable=SC2086
c++ -std=c++17 -Wall -Wextra -Werror -Ibindings/c/include "$tmp/verify.cpp" $libs \
  -o "$tmp/verify-cpp"
out="$("$tmp/verify-cpp" test-vectors/keys/signature.pem "$(cat test-vectors/example-license.txt)" 1800000000)"
echo "$out"
grep -qx "license valid for acme-studio-pro" <<<"$out"
grep -qx "feature export-pdf" <<<"$out"
status=0
out="$("$tmp/verify-cpp" test-vectors/keys/signature.pem "$(tamper)" 1800000000)" || status=$?
echo "$out"
[ "$status" -eq 1 ] || { echo "the C++ example exited $status on a tampered license, not 1" >&2; exit 1; }
grep -qx "license refused: SIGNATURE_INVALID" <<<"$out"
# A year after it expired, the same license is refused with Rust's code.
status=0
out="$("$tmp/verify-cpp" test-vectors/keys/signature.pem "$(cat test-vectors/example-license.txt)" 1932000000)" || status=$?
echo "$out"
[ "$status" -eq 1 ] || { echo "the C++ example exited $status on an expired license, not 1" >&2; exit 1; }
grep -qx "license refused: TOKEN_EXPIRED" <<<"$out"
