#!/usr/bin/env bash
# CI for the embedded example (bindings/embedded): builds both firmwares for a Cortex-M4,
# runs them under QEMU (mps2-an386, semihosting) and checks what they print, checks that
# the firmware's verify code is the example of docs/bindings.md, and prints the sizes.
# Installs what it needs itself. Run from anywhere: bash bindings/embedded/ci.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
# The firmware's own workspace: its target dir is its own unless CARGO_TARGET_DIR says.
release="${CARGO_TARGET_DIR:-$root/bindings/embedded/target}/thumbv7em-none-eabihf/release"
# The issue's budget for an Ed25519-only firmware (issue 12, point 5).
max_flash=$((80 * 1024))
max_heap=2048

rustup target add thumbv7em-none-eabihf >/dev/null 2>&1 || rustup target add thumbv7em-none-eabihf
if ! command -v qemu-system-arm >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null
fi
# llvm-size: Debian's llvm where it is installed, else the toolchain's own llvm-tools.
size_tool="$(command -v llvm-size || true)"
if [ -z "$size_tool" ]; then
  rustup component add llvm-tools >/dev/null 2>&1 || rustup component add llvm-tools
  size_tool="$(find "$(rustc --print sysroot)" -name llvm-size -type f | head -n 1)"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/licet-embedded.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "-- the firmware's verify code is the example of docs/bindings.md, word for word"
python3 .ci/doc-example docs/bindings.md embedded > "$tmp/example.rs"
if ! diff -u "$tmp/example.rs" bindings/embedded/src/example.rs; then
  echo "docs/bindings.md's embedded example and bindings/embedded/src/example.rs differ: make them the same" >&2
  exit 1
fi

echo "-- fmt and clippy (a workspace of its own: the root's cargo fmt --all and clippy skip it)"
(cd bindings/embedded && cargo fmt -- --check && cargo clippy --release --locked --quiet -- -D warnings)

echo "-- build (release: opt-level z, LTO, codegen-units 1, panic abort)"
(cd bindings/embedded && cargo build --release --locked --quiet)

run() {
  # QEMU exits with the firmware's semihosting exit code; a hang is ended by the timeout.
  timeout 60 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic -monitor none \
    -semihosting-config enable=on,target=native -kernel "$release/$1"
}

check() {
  local name="$1" expected="$2" out status=0
  out="$(run "$name" 2>&1)" || status=$?
  printf '%s\n' "$out" | sed "s/^/   $name | /"
  if [ "$status" -ne 0 ]; then
    echo "$name exited with $status under QEMU" >&2
    exit 1
  fi
  # Every line but the measurement is checked exactly.
  if ! diff -u <(printf '%s\n' "$expected") <(printf '%s\n' "$out" | grep -v '^measured: '); then
    echo "$name printed something else than expected" >&2
    exit 1
  fi
  heap="$(printf '%s\n' "$out" | sed -n 's/^measured: peak heap \([0-9]*\) bytes, stack \([0-9]*\) bytes$/\1/p')"
  stack="$(printf '%s\n' "$out" | sed -n 's/^measured: peak heap \([0-9]*\) bytes, stack \([0-9]*\) bytes$/\2/p')"
  if [ -z "$heap" ] || [ -z "$stack" ]; then
    echo "$name printed no measurement line" >&2
    exit 1
  fi
}

echo "-- licet-firmware under QEMU"
check licet-firmware "license: valid
product: acme-studio-pro
customer: cus_8842
expires: 1900000000
features: batch-render
features: cloud-sync
features: export-pdf
ps256: ALG_UNSUPPORTED
tampered: SIGNATURE_INVALID
expired: TOKEN_EXPIRED
rsa keyring: KEYRING_INVALID (signature.pem cannot be used: block 2: an RSA key, and this build of licet-verifier has no RSA support: enable its \`rsa\` feature, or publish an Ed25519 key)"
full_heap="$heap"

echo "-- bare-verify-strict under QEMU"
check bare-verify-strict "bare verify_strict: valid
bare tampered: refused"

echo "-- sizes (bytes; flash = .text + .rodata + .vector_table, RAM = .data + .bss incl. the 16 KiB heap)"
flash_of() {
  "$size_tool" -A "$release/$1" | awk '$1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" { s += $2 } END { print s }'
}
for name in licet-firmware bare-verify-strict; do
  "$size_tool" -A "$release/$name" | awk -v n="$name" '
    $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" { flash += $2 }
    $1 == ".data" || $1 == ".bss" { ram += $2 }
    END { printf "   %-20s flash %6d  static RAM %6d\n", n, flash, ram }'
done
full_flash="$(flash_of licet-firmware)"
if [ "$full_flash" -gt "$max_flash" ]; then
  echo "licet-firmware is $full_flash bytes of flash, over the $max_flash of issue 12" >&2
  exit 1
fi
if [ "$full_heap" -gt "$max_heap" ]; then
  echo "one verify took $full_heap bytes of heap, over the $max_heap of issue 12" >&2
  exit 1
fi
echo "embedded: both firmwares ran under QEMU and printed what was expected, within the budget"
