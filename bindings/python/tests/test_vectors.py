"""Every vector of test-vectors/vectors.json through the Python module: the same decision
and the same code as the Rust verifier (test-vectors/tests/vectors.rs reads them the same
way: one keyring from signature.pem, or the vector's own keyring, which may itself be the
refusal)."""

from __future__ import annotations

import pytest

import licet
from conftest import MANIFEST, read

VECTORS = MANIFEST["vectors"]
KEYRING = licet.Keyring.from_pem(read(MANIFEST["signature_pem"]))

# Every code the Rust suite insists a vector covers, and VALID.
CODES = {
    "VALID",
    "TOKEN_MALFORMED",
    "TOKEN_TOO_LARGE",
    "TOKEN_UNSUPPORTED_VERSION",
    "KEY_UNKNOWN",
    "ALG_UNSUPPORTED",
    "ALG_MISMATCH",
    "SIGNATURE_INVALID",
    "TOKEN_EXPIRED",
    "TOKEN_NOT_YET_VALID",
    "CLOCK_ROLLBACK",
    "WRONG_KIND",
    "WRONG_PRODUCT",
    "FINGERPRINT_MISMATCH",
    "KEYRING_INVALID",
}


def run(v: dict) -> licet.Claims:
    """Verifies one vector as its `expect` says; raises VerifyError when refused."""
    keyring = KEYRING
    if "keyring" in v:
        keyring = licet.Keyring.from_pem("".join(read(f) for f in v["keyring"]))
    e = v["expect"]
    return keyring.verify(
        v["token"],
        kind=e["kind"],
        product=e["product"],
        fingerprint=e["fingerprint"],
        now=e["now"],
        last_seen=e["last_seen"],
        leeway=e["leeway"],
    )


def test_the_manifest_covers_every_code():
    assert len(VECTORS) >= 40, "the manifest lost vectors"
    seen = {v["result"]["error"] if not v["result"]["valid"] else "VALID" for v in VECTORS}
    assert CODES <= seen, f"no vector covers {sorted(CODES - seen)}"


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(v: dict):
    r = v["result"]
    if r["valid"]:
        claims = run(v)
        want = r["claims"]
        assert claims.to_dict() == want
        # The attributes say the same as the dict; the keys a kind lacks are None.
        for name in ("kind", "product", "issued_at", "id", "issuer", "customer", "expires_at",
                     "not_before", "features", "metadata", "license_type", "max_machines",
                     "max_leases", "fingerprint", "client_id"):
            assert getattr(claims, name) == want.get(name), name
        assert claims.license_id == want.get("license_id", want["id"])
        assert all(claims.has_feature(f) for f in want["features"])
        assert not claims.has_feature("no-such-feature")
    else:
        with pytest.raises(licet.VerifyError) as refused:
            run(v)
        assert refused.value.code == r["error"], str(refused.value)
        assert str(refused.value), "a refusal says why"
