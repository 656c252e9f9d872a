#!/usr/bin/env bash
# The Python bindings' CI step: lint the crate, then in a fresh virtual environment install
# the pinned maturin and pytest, `pip install ./bindings/python` (maturin builds the abi3
# wheel) and run pytest on it: every vector of test-vectors/vectors.json, the bad-input
# tests, and licet.fingerprint against the `licet` command (built here); then run
# docs/bindings.md's Python example. Usage: bash bindings/python/ci.sh   (from anywhere;
# needs python3 and cargo)
# The venv is ${TMPDIR:-/tmp}/licet-python-venv, made anew each run so that the install is
# the one a new user gets. Cargo builds into $CARGO_TARGET_DIR, by default
# ${TMPDIR:-/tmp}/licet-python-target, kept between runs as a build cache.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${TMPDIR:-/tmp}/licet-python-venv"
# The main workspace's target dir, where `.ci/run` has already built the `licet` command
# that the fingerprint tests and the docs example compare with.
root_target="${CARGO_TARGET_DIR:-$root/target}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${TMPDIR:-/tmp}/licet-python-target}"

if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  # Debian's python3 ships venv without ensurepip; python3-venv adds it.
  echo "python3 lacks venv/ensurepip: installing python3-venv" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi

# Its own workspace, so the root's fmt and clippy do not see it.
cargo fmt --manifest-path "$here/Cargo.toml" -- --check
cargo clippy --manifest-path "$here/Cargo.toml" --locked -- -D warnings

rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
  --require-virtualenv -r "$here/requirements.txt"
"$venv/bin/python" -m pip check
# --no-build-isolation: build with the pinned maturin just installed rather than whatever
# maturin pyproject.toml's range would fetch. maturin's build hook runs `maturin` from PATH.
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --require-virtualenv --no-build-isolation "$here"
# The Rust side that licet.fingerprint must agree with: the `licet` command.
CARGO_TARGET_DIR="$root_target" cargo build --manifest-path "$root/Cargo.toml" -p licet-cli \
  --locked --quiet
cli="$root_target/debug/licet"
# From outside the source folder, so that the installed wheel is what is imported.
cd "$root"
# The stubs say what the module does: every name, argument and default (mypy's stubtest).
"$venv/bin/python" -m mypy.stubtest licet --allowlist "$here/stubtest-allowlist.txt"
LICET_CLI="$cli" "$venv/bin/python" -m pytest -q -p no:cacheprovider "$here/tests"

echo "-- docs/bindings.md's Python example"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/licet-python.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
python3 .ci/doc-example docs/bindings.md python >"$tmp/check_license.py"
example() { "$venv/bin/python" "$tmp/check_license.py" test-vectors/keys/signature.pem "$@"; }
# A valid license, at a time inside its validity: accepted, its product and features printed.
out="$(example test-vectors/example-license.txt --now 1800000000)"
echo "$out"
grep -qx "license valid for acme-studio-pro" <<<"$out"
grep -qx "feature export-pdf" <<<"$out"
# The same license with one character of its signature changed: refused with Rust's code.
python3 bindings/c/tests/tamper.py test-vectors/example-license.txt >"$tmp/tampered.txt"
if out="$(example "$tmp/tampered.txt" --now 1800000000)"; then
  echo "the Python example accepted a tampered license" >&2
  exit 1
fi
echo "$out"
grep -qx "license refused: SIGNATURE_INVALID" <<<"$out"
# A machine token of another machine (the vectors'): refused because of this machine's
# fingerprint.
python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); print(next(v["token"] for v in m["vectors"] if v["name"] == "machine-ed25519"))' \
  test-vectors/vectors.json >"$tmp/other-machine.txt"
if out="$(example test-vectors/example-license.txt "$tmp/other-machine.txt" --now 1800000000)"; then
  echo "the Python example accepted another machine's token" >&2
  exit 1
fi
echo "$out"
grep -qx "machine token refused: FINGERPRINT_MISMATCH" <<<"$out"
# A machine token the vendor made for this machine (from `licet fingerprint`), checked at the
# system clock's time as an application does: accepted. (Valid while the example license
# is, until 2030-03-17; test-vectors/ is remade before then.)
"$cli" mint machine --key test-vectors/keys/ed25519.pem --pubkey test-vectors/keys/signature.pem \
  --license test-vectors/example-license.txt --days 30 --out "$tmp/this-machine.txt" \
  --fingerprint "$("$cli" fingerprint --product acme-studio-pro)" >/dev/null
out="$(example test-vectors/example-license.txt "$tmp/this-machine.txt")"
echo "$out"
grep -q "^machine activated until [0-9]*$" <<<"$out"
