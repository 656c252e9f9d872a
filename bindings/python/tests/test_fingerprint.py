"""licet.fingerprint: on this machine, the same 64 hex digits as the Rust side (the `licet`
command, `licet fingerprint --product P`, whose path is $LICET_CLI), a different value per
product, and a clear error for a bad product."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

import licet


def cli_fingerprint(product: str) -> str:
    cli = os.environ.get("LICET_CLI")
    if not cli:
        pytest.fail("set LICET_CLI to the `licet` binary (bindings/python/ci.sh builds it)")
    # The child inherits os.environ, LICET_MACHINE_ID included when a test sets it.
    out = subprocess.run(
        [cli, "fingerprint", "--product", product], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


@pytest.mark.parametrize("product", ["acme-studio-pro", "other-vendor-app", "é" * 32])
def test_the_same_as_the_rust_side_on_this_machine(product, monkeypatch):
    # The machine's own id (/etc/machine-id here), not an override.
    monkeypatch.delenv("LICET_MACHINE_ID", raising=False)
    fp = licet.fingerprint(product)
    assert re.fullmatch("[0-9a-f]{64}", fp)
    assert fp == cli_fingerprint(product)


def test_each_product_sees_another_value():
    assert licet.fingerprint("acme-studio-pro") != licet.fingerprint("other-vendor-app")
    assert licet.fingerprint("acme-studio-pro") == licet.fingerprint("acme-studio-pro")


def test_licet_machine_id_is_honoured_as_by_the_rust_side(monkeypatch):
    monkeypatch.delenv("LICET_MACHINE_ID", raising=False)
    own = licet.fingerprint("acme-studio-pro")
    monkeypatch.setenv("LICET_MACHINE_ID", "container-7f3a")
    fp = licet.fingerprint("acme-studio-pro")
    assert fp != own
    assert fp == cli_fingerprint("acme-studio-pro")


def test_a_machine_token_checks_against_the_fingerprint_as_hex():
    # The returned text is accepted by verify(fingerprint=...); the vectors' machine token
    # is bound to another machine, so it is refused with FINGERPRINT_MISMATCH, where
    # leaving the fingerprint out would let it pass.
    from conftest import MANIFEST, read

    keyring = licet.Keyring.from_pem(read(MANIFEST["signature_pem"]))
    machine = next(v for v in MANIFEST["vectors"] if v["name"] == "machine-ed25519")
    args = dict(kind="machine", product="acme-studio-pro", now=machine["expect"]["now"])
    keyring.verify(machine["token"], **args)
    with pytest.raises(licet.VerifyError) as refused:
        keyring.verify(machine["token"], fingerprint=licet.fingerprint("acme-studio-pro"), **args)
    assert refused.value.code == "FINGERPRINT_MISMATCH"


@pytest.mark.parametrize(
    "product, error, message",
    [
        ("", ValueError, "product must be 1 to 64 bytes of UTF-8, not 0"),
        ("a" * 65, ValueError, "product must be 1 to 64 bytes of UTF-8, not 65"),
        ("é" * 33, ValueError, "not 66"),  # 33 characters, 66 bytes
        (None, TypeError, "product"),
        (b"acme-studio-pro", TypeError, "product"),
        (7, TypeError, "product"),
        ("acme\udc80", UnicodeEncodeError, "surrogate"),
    ],
)
def test_a_bad_product_is_a_clear_error(product, error, message):
    with pytest.raises(error, match=message):
        licet.fingerprint(product)


def test_the_longest_product_is_accepted():
    assert re.fullmatch("[0-9a-f]{64}", licet.fingerprint("a" * 64))
