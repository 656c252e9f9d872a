#!/usr/bin/env bash
# The independent conformance check: the Python implementation (check.py, pycose) checks
# every test vector, mints fresh tokens, and the Rust verifier checks those.
# Usage: bash test-vectors/conformance/run.sh   (from anywhere; needs python3 and cargo)
# The virtual environment lives in $LICET_CONFORMANCE_VENV, by default
# ${TMPDIR:-/tmp}/licet-conformance-venv, and is reused while requirements.txt is unchanged.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${LICET_CONFORMANCE_VENV:-${TMPDIR:-/tmp}/licet-conformance-venv}"

if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  # Debian's python3 ships venv without ensurepip; python3-venv adds it.
  echo "python3 lacks venv/ensurepip: installing python3-venv" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi

stamp="$venv/.licet-requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$stamp"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    --require-virtualenv -r "$here/requirements.txt"
  "$venv/bin/python" -m pip check
  cp "$here/requirements.txt" "$stamp"
fi

minted="$(mktemp "${TMPDIR:-/tmp}/licet-python-minted.XXXXXX.json")"
trap 'rm -f "$minted"' EXIT

"$venv/bin/python" "$here/check.py" --mint-out "$minted"

cd "$root"
LICET_PYTHON_MINTED="$minted" cargo test -p licet-test-vectors --locked --test python_minted \
  -- --nocapture
