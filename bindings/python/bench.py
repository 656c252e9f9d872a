#!/usr/bin/env python3
"""Times one licet verify from Python next to PyJWT verifying a JWT of the same claims.

Not part of CI (no test asserts a time); the figures go in docs/benchmarks.md. Run from
anywhere after `pip install ./bindings/python` and `pip install --no-deps -r
bindings/python/requirements-bench.txt` in the same virtual environment:

    python bindings/python/bench.py

The licet token is test-vectors' `license-ed25519` (the compactness example: customer,
product, expiry, issue time, 16-byte id, three features, license type) and its PS256 twin.
The JWTs carry the same claims with the same keys (test-vectors/keys), named as in
verifier/benches/verify.rs. Both sides are timed as an application uses them: the key
parsed once, then per call the token text in, checked claims out. PyJWT checks `exp`
against the system clock; licet is given `now` (passing None, its clock read, is timed too).
"""

from __future__ import annotations

import base64
import json
import platform
import statistics
import time
import timeit
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key

import licet

ROOT = Path(__file__).resolve().parents[2] / "test-vectors"
MANIFEST = json.loads((ROOT / "vectors.json").read_text())
BY_NAME = {v["name"]: v for v in MANIFEST["vectors"]}
PRODUCT = "acme-studio-pro"


def per_call(fns, number: int, repeat: int) -> list[tuple[float, float]]:
    """(lowest, median) microseconds of CPU time per call for each of `fns`, over `repeat`
    rounds of `number` calls each. CPU time (`time.process_time`) rather than wall time: on a
    shared machine the wall clock also counts the time other processes held the core. The functions take turns within every round, so that a burst of
    load from other processes falls on all of them alike and the ratios stay fair."""
    runs: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, out in zip(fns, runs):
            out.append(timeit.timeit(fn, number=number, timer=time.process_time) / number * 1e6)
    return [(min(r), statistics.median(r)) for r in runs]


def jwt_for(vector: str, key_file: str, alg: str) -> tuple[str, object]:
    """A JWT of the vector's claims, signed with the same key, and its public key."""
    c = BY_NAME[vector]["result"]["claims"]
    claims = {
        "sub": c["customer"],
        "aud": c["product"],
        # PyJWT checks exp against the system clock: at least a year ahead (same length).
        "exp": max(c["expires_at"], int(time.time()) + 365 * 86_400),
        "iat": c["issued_at"],
        "jti": base64.urlsafe_b64encode(bytes.fromhex(c["id"])).rstrip(b"=").decode(),
        "v": 1,
        "kind": c["kind"],
        "features": c["features"],
        "license_type": c["license_type"],
    }
    private = load_pem_private_key((ROOT / key_file).read_bytes(), password=None)
    return jwt.encode(claims, private, algorithm=alg), private.public_key()


def main() -> None:
    keyring = licet.Keyring.from_pem((ROOT / MANIFEST["signature_pem"]).read_text())
    rows = []
    for alg, vector, key_file in (
        ("EdDSA", "license-ed25519", "keys/ed25519.pem"),
        ("PS256", "license-ps256", "keys/rsa-2048.pem"),
    ):
        token = BY_NAME[vector]["token"]
        now = BY_NAME[vector]["expect"]["now"]
        jwt_token, public = jwt_for(vector, key_file, alg)

        def licet_verify():
            return keyring.verify(token, kind="license", product=PRODUCT, now=now)

        def licet_verify_clock():
            return keyring.verify(token, kind="license", product=PRODUCT)

        def jwt_verify():
            return jwt.decode(jwt_token, public, algorithms=[alg], audience=PRODUCT, leeway=60)

        # Both agree on what they carry before either is timed.
        assert licet_verify().features == jwt_verify()["features"]
        number = 1000 if alg == "EdDSA" else 500
        timed = (
            (f"licet {alg}: Keyring.verify(token, now=…)", licet_verify, len(token)),
            (f"licet {alg}: Keyring.verify(token), now=None (system clock)", licet_verify_clock, len(token)),
            (f"PyJWT {jwt.__version__} {alg}: jwt.decode(token, key, audience=…)", jwt_verify, len(jwt_token)),
        )
        for (what, _, size), (low, median) in zip(timed, per_call([t[1] for t in timed], number, 21)):
            rows.append((what, low, median, size))

    pem = (ROOT / MANIFEST["signature_pem"]).read_text()
    [(low, median)] = per_call([lambda: licet.Keyring.from_pem(pem)], 200, 7)
    rows.append(("licet: Keyring.from_pem(signature.pem) (Ed25519 + RSA-2048 key), once at start-up", low, median, None))

    print(f"Python {platform.python_version()} on {platform.machine()}, licet {licet.__version__}")
    print("| what is timed | lowest | median | token |")
    print("|---|---:|---:|---:|")
    for what, low, median, size in rows:
        chars = f"{size} chars" if size else "–"
        print(f"| {what} | {low:.1f} µs | {median:.1f} µs | {chars} |")


if __name__ == "__main__":
    main()
