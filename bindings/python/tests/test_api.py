"""The Python surface: bad input gives a clear exception (never a crash), the clock is read
only when `now` is None, and the README's example runs."""

from __future__ import annotations

import pickle
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import licet
from conftest import MANIFEST, VECTORS_DIR, read

KEYRING = licet.Keyring.from_pem(read(MANIFEST["signature_pem"]))
BY_NAME = {v["name"]: v for v in MANIFEST["vectors"]}
LICENSE = BY_NAME["license-ed25519"]
MACHINE = BY_NAME["machine-ed25519"]
OK = dict(kind="license", product="acme-studio-pro", now=LICENSE["expect"]["now"])
CODES = {
    "TOKEN_MALFORMED", "TOKEN_TOO_LARGE", "TOKEN_UNSUPPORTED_VERSION", "KEY_UNKNOWN",
    "ALG_UNSUPPORTED", "ALG_MISMATCH", "SIGNATURE_INVALID", "TOKEN_EXPIRED",
    "TOKEN_NOT_YET_VALID", "CLOCK_ROLLBACK", "WRONG_KIND", "WRONG_PRODUCT",
    "FINGERPRINT_MISMATCH", "KEYRING_INVALID",
}


def test_a_good_token_verifies():
    claims = KEYRING.verify(LICENSE["token"], **OK)
    assert claims.product == "acme-studio-pro"
    assert claims == KEYRING.verify(LICENSE["token"], **OK)


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(kind="licence"), ValueError, "kind must be"),
        (dict(kind=1), TypeError, "kind"),
        (dict(product=None), TypeError, "product"),
        (dict(product=b"acme-studio-pro"), TypeError, "product"),
        (dict(now="1800000000"), TypeError, "now must be an int"),
        (dict(now=1800000000.0), TypeError, "now must be an int"),
        (dict(now=True), TypeError, "now must be an int"),
        (dict(now=-1), ValueError, "now must be from 0"),
        (dict(now=2**64), ValueError, "now must be from 0"),
        (dict(last_seen=-5), ValueError, "last_seen must be from 0"),
        (dict(last_seen=[]), TypeError, "last_seen must be an int"),
        (dict(leeway=1.5), TypeError, "leeway must be an int"),
        (dict(leeway=-1), ValueError, "leeway must be from 0"),
        (dict(fingerprint="00" * 31), ValueError, "64 hex digits or 32 bytes"),
        (dict(fingerprint="zz" * 32), ValueError, "64 hex digits or 32 bytes"),
        (dict(fingerprint=b"\0" * 31), ValueError, "64 hex digits or 32 bytes"),
        (dict(fingerprint=0), TypeError, "fingerprint must be"),
        (dict(fingerprint=bytearray(32)), TypeError, "fingerprint must be"),
        (dict(colour="red"), TypeError, "colour"),
    ],
)
def test_a_wrong_argument_is_a_clear_python_error(change, error, message):
    with pytest.raises(error, match=message):
        KEYRING.verify(LICENSE["token"], **{**OK, **change})


def test_wrong_types_and_positions():
    with pytest.raises(TypeError):
        KEYRING.verify(LICENSE["token"], "license", "acme-studio-pro")  # keyword-only
    with pytest.raises(TypeError):
        KEYRING.verify(b"LIC-", **OK)
    with pytest.raises(TypeError):
        KEYRING.verify(None, **OK)
    with pytest.raises(TypeError):
        licet.Keyring.from_pem(read(MANIFEST["signature_pem"]).encode())
    with pytest.raises(TypeError):
        licet.Keyring()  # only from_pem makes one


def test_a_lone_surrogate_is_a_unicode_error():
    # Not UTF-8 at all: refused while converting, before the verifier sees it.
    with pytest.raises(UnicodeEncodeError):
        KEYRING.verify("LIC-\udc80", **OK)
    with pytest.raises(UnicodeEncodeError):
        licet.Keyring.from_pem("\ud800")


@pytest.mark.parametrize(
    "token, code",
    [
        ("", "TOKEN_MALFORMED"),
        ("LIC-", "TOKEN_MALFORMED"),
        ("LIC-\0\0\0", "TOKEN_MALFORMED"),
        ("é" * 100, "TOKEN_MALFORMED"),
        ("LIC-" + "A" * 50_000_000, "TOKEN_TOO_LARGE"),
    ],
)
def test_hostile_text_is_refused_with_its_code(token, code):
    with pytest.raises(licet.VerifyError) as refused:
        KEYRING.verify(token, **OK)
    assert refused.value.code == code


@pytest.mark.parametrize("text", ["", "garbage", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"])
def test_a_bad_keyring_is_keyring_invalid(text):
    with pytest.raises(licet.VerifyError) as refused:
        licet.Keyring.from_pem(text)
    assert refused.value.code == "KEYRING_INVALID"


def test_a_pickled_verify_error_keeps_its_code_and_message():
    # As multiprocessing and concurrent.futures pass an exception from a worker back.
    with pytest.raises(licet.VerifyError) as refused:
        KEYRING.verify(LICENSE["token"], **{**OK, "product": "other-product"})
    back = pickle.loads(pickle.dumps(refused.value))
    assert type(back) is licet.VerifyError
    assert back.code == "WRONG_PRODUCT"
    assert str(back) == str(refused.value)


def test_damaged_tokens_are_refused_with_a_code_never_a_crash():
    # Seeded, so a failure can be replayed: 2,000 copies of a good token with one to three
    # characters changed, dropped or inserted.
    rng = random.Random(12)
    good = LICENSE["token"]
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ-ilo \n\0é"
    outcomes = set()
    for _ in range(2000):
        t = list(good)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(t))
            op = rng.choice("cdi")
            if op == "c":
                t[i] = rng.choice(alphabet)
            elif op == "d":
                del t[i]
            else:
                t.insert(i, rng.choice(alphabet))
        try:
            KEYRING.verify("".join(t), **OK)
            outcomes.add("VALID")  # a change Crockford base32 reads the same (i for 1, …)
        except licet.VerifyError as e:
            assert e.code in CODES
            outcomes.add(e.code)
    assert {"TOKEN_MALFORMED", "SIGNATURE_INVALID"} <= outcomes


def test_machine_fingerprint_as_hex_or_bytes():
    e = MACHINE["expect"]
    fp = e["fingerprint"]
    args = dict(kind="machine", product=e["product"], now=e["now"])
    assert KEYRING.verify(MACHINE["token"], fingerprint=fp, **args).fingerprint == fp
    assert KEYRING.verify(MACHINE["token"], fingerprint=fp.upper(), **args).fingerprint == fp
    assert KEYRING.verify(MACHINE["token"], fingerprint=bytes.fromhex(fp), **args).fingerprint == fp
    other = bytes(32)
    with pytest.raises(licet.VerifyError) as refused:
        KEYRING.verify(MACHINE["token"], fingerprint=other, **args)
    assert refused.value.code == "FINGERPRINT_MISMATCH"


def test_now_none_reads_the_system_clock_and_a_given_now_is_used():
    token, args = LICENSE["token"], dict(kind="license", product="acme-studio-pro")
    exp = LICENSE["result"]["claims"]["expires_at"]
    # A given `now` decides alone: past the expiry (and its leeway) is refused whatever
    # the system clock says.
    with pytest.raises(licet.VerifyError) as refused:
        KEYRING.verify(token, now=exp + 60, **args)
    assert refused.value.code == "TOKEN_EXPIRED"

    def outcome(**kw):
        try:
            KEYRING.verify(token, **args, **kw)
            return "VALID"
        except licet.VerifyError as e:
            return e.code

    # `now=None` gives what the system clock's time gives, read around the call.
    before = int(time.time())
    got = outcome(now=None)
    after = int(time.time())
    assert got in {outcome(now=before), outcome(now=after)}
    assert outcome() == got  # `now` left out is None


def test_one_keyring_shared_by_threads():
    results, errors = [], []

    def work():
        try:
            for _ in range(50):
                results.append(KEYRING.verify(LICENSE["token"], **OK).id)
        except Exception as e:  # collected: an exception in a thread would be lost
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert set(results) == {LICENSE["result"]["claims"]["id"]} and len(results) == 200


def test_the_module_surface():
    assert issubclass(licet.VerifyError, Exception)
    assert licet.DEFAULT_LEEWAY == 60
    assert re.fullmatch(r"\d+\.\d+\.\d+", licet.__version__)
    assert len(KEYRING) == 2 and all(re.fullmatch("[0-9a-f]{16}", k) for k in KEYRING.kids)
    assert "now" in licet.Keyring.verify.__doc__ and "system clock" in licet.Keyring.verify.__doc__
    # The stubs and the PEP 561 marker are installed beside the module.
    package = Path(licet.__file__).parent
    assert (package / "py.typed").exists()
    stub = (package / "__init__.pyi").read_text()
    for name in (
        "class Keyring", "class Claims", "class VerifyError", "def verify", "def from_pem",
        "def fingerprint",
    ):
        assert name in stub


def test_the_readme_example_runs():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "the README has no Python example"
    # From the repository's root, where the example's paths start.
    subprocess.run([sys.executable, "-c", blocks[0]], cwd=VECTORS_DIR.parent, check=True)
