#!/usr/bin/env bash
# The Python bindings' CI step: lint the crate, then in a fresh virtual environment install
# the pinned maturin and pytest, `pip install ./bindings/python` (maturin builds the abi3
# wheel) and run pytest on it: every vector of test-vectors/vectors.json and the bad-input
# tests. Usage: bash bindings/python/ci.sh   (from anywhere; needs python3 and cargo)
# The venv is ${TMPDIR:-/tmp}/licet-python-venv, made anew each run so that the install is
# the one a new user gets. Cargo builds into $CARGO_TARGET_DIR, by default
# ${TMPDIR:-/tmp}/licet-python-target, kept between runs as a build cache.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${TMPDIR:-/tmp}/licet-python-venv"
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
# From outside the source folder, so that the installed wheel is what is imported.
cd "$root"
# The stubs say what the module does: every name, argument and default (mypy's stubtest).
"$venv/bin/python" -m mypy.stubtest licet --allowlist "$here/stubtest-allowlist.txt"
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$here/tests"
