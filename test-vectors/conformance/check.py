#!/usr/bin/env python3
"""An independent conformance check of licet's token format.

Written from docs/token-format.md alone (not from the Rust verifier), so that two
implementations have to agree on every test vector. It

  (a) decodes the text and file forms itself (spec section 6: Crockford base32 with
      aliases and separators, zero unused bits, prefixes, armor);
  (b) checks every vector whose signature is "valid" with pycose (Sign1Message.decode and
      verify_signature, the key found by its kid) and, for valid vectors, decodes the
      claims with cbor2 per section 7 and compares them with the manifest's (7.3);
  (c) checks that pycose refuses every vector whose signature is "invalid";
  (d) runs its own verifier, section 9's checks in their order with a strict CBOR decoder
      of its own (section 5), and compares its verdict with every vector's;
  (f) checks every vector of trust-vectors.json (section 13: endorsements, keyrings
      from a pinned root, revocation lists, deactivation receipts) with its own
      verifier, and has pycose verify
      every valid document and refuse every one whose signature is invalid;
  (e) with --mint-out PATH, mints a fresh EdDSA and a fresh PS256 license with pycose and
      writes them, with the time to check them at and their claims, for the Rust verifier
      to check (test-vectors/tests/python_minted.rs).

Any disagreement is printed and makes the exit status 1; the last line is
`N passed, M failed`. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import importlib.metadata
import json
import os
import re
import struct
import sys
import time
from pathlib import Path

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from pycose.algorithms import EdDSA, Ps256
from pycose.headers import KID, Algorithm
from pycose.keys import CoseKey
from pycose.messages import Sign1Message

HERE = Path(__file__).resolve().parent
DEFAULT_MANIFEST = HERE.parent / "vectors.json"

# ---------------------------------------------------------------------------------------
# Errors: the stable codes of spec section 9.


class LicetError(Exception):
    """A refusal with one of the spec's error codes."""

    def __init__(self, code: str, why: str):
        super().__init__(f"{code}: {why}")
        self.code = code
        self.why = why


def malformed(why: str) -> LicetError:
    return LicetError("TOKEN_MALFORMED", why)


# ---------------------------------------------------------------------------------------
# Section 6: text and file forms.

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ALIASES = {"I": "1", "L": "1", "O": "0"}
# "ASCII white space" as WHATWG and Rust's is_ascii_whitespace define it.
ASCII_WHITESPACE = "\t\n\f\r "
PREFIXES = {"LIC": "license", "MCH": "machine", "LSE": "lease"}
ARMOR_WORDS = {"LICENSE": "license", "MACHINE": "machine", "LEASE": "lease"}
PREFIX_OF_KIND = {kind: prefix for prefix, kind in PREFIXES.items()}
ARMOR_OF_KIND = {kind: word for word, kind in ARMOR_WORDS.items()}
MAX_BINARY = 8192  # section 6.4
MAX_TEXT = 16640  # section 6.4


def base32_decode(body: str) -> bytes:
    """Crockford base32 as section 6.2 says a decoder reads it."""
    if not body.isascii():
        raise malformed("non-ASCII character in the base32 part")
    symbols = []
    for ch in body:
        if ch in ASCII_WHITESPACE or ch == "-":
            continue  # white space and group separators are removed
        ch = ch.upper()
        ch = ALIASES.get(ch, ch)
        if ch not in ALPHABET:
            raise malformed(f"character {ch!r} is not in Crockford's alphabet")
        symbols.append(ALPHABET.index(ch))
    if len(symbols) % 8 in (1, 3, 6):
        raise malformed(f"{len(symbols)} base32 characters make no whole number of bytes")
    nbytes = len(symbols) * 5 // 8
    unused = len(symbols) * 5 - nbytes * 8
    acc = 0
    for s in symbols:
        acc = (acc << 5) | s
    if acc & ((1 << unused) - 1):
        raise malformed("the unused low bits of the last base32 character are not zero")
    return (acc >> unused).to_bytes(nbytes, "big")


def base32_encode(data: bytes) -> str:
    """What an issuer writes: upper case, no separators, no padding, unused bits zero."""
    nbits = len(data) * 8
    nsym = -(-nbits // 5)
    acc = int.from_bytes(data, "big") << (nsym * 5 - nbits)
    return "".join(ALPHABET[(acc >> (5 * (nsym - 1 - i))) & 31] for i in range(nsym))


def encode_text(kind: str, data: bytes) -> str:
    return f"{PREFIX_OF_KIND[kind]}-{base32_encode(data)}"


def encode_file(kind: str, data: bytes) -> str:
    text = encode_text(kind, data)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    word = ARMOR_OF_KIND[kind]
    return "\n".join([f"-----BEGIN LICET {word}-----", *lines, f"-----END LICET {word}-----"]) + "\n"


def decode_text(text: str) -> tuple[str, bytes]:
    """`prefix "-" base32`; returns (the prefix's kind, the binary token)."""
    head, dash, body = text.partition("-")
    kind = PREFIXES.get(head.upper()) if dash and head.isascii() else None
    if kind is None:
        raise malformed("the text form does not start with LIC-, MCH- or LSE-")
    return kind, base32_decode(body)


ARMOR_LINE = re.compile(r"-----(BEGIN|END) LICET ([A-Z]+)-----")


def decode_form(token: str) -> tuple[str, bytes]:
    """Section 6: the file form (armor) or the text form; returns (kind named, bytes)."""
    stripped = token.strip(ASCII_WHITESPACE)
    if not stripped.startswith("-----BEGIN"):
        return decode_text(stripped)
    lines = re.split(r"\r?\n", stripped)
    # Section 6.3: only spaces and tabs may end the BEGIN line or start the END line.
    begin = ARMOR_LINE.fullmatch(lines[0].rstrip(" \t"))
    end = ARMOR_LINE.fullmatch(lines[-1].lstrip(" \t")) if len(lines) > 1 else None
    if not begin or begin.group(1) != "BEGIN" or begin.group(2) not in ARMOR_WORDS:
        raise malformed("the BEGIN armor line is not -----BEGIN LICET LICENSE|MACHINE|LEASE-----")
    if not end or end.group(1) != "END" or end.group(2) != begin.group(2):
        raise malformed("the END armor line does not match the BEGIN line")
    kind, data = decode_text("\n".join(lines[1:-1]).strip(ASCII_WHITESPACE))
    if kind != ARMOR_WORDS[begin.group(2)]:
        raise malformed("the armor word does not match the text prefix")
    return kind, data


# ---------------------------------------------------------------------------------------
# Section 5: a strict decoder for core deterministic CBOR (RFC 8949 section 4.2.1).
# Written here rather than taken from cbor2, which (5.x) ignores trailing bytes, keeps the
# last of duplicate keys and, with canonical=True, sorts map keys length-first
# (RFC 7049) instead of by their bytes.


class Tag:
    def __init__(self, tag: int, value):
        self.tag, self.value = tag, value

    def __repr__(self) -> str:
        return f"Tag({self.tag}, {self.value!r})"


class Undefined:
    pass


UNDEFINED = Undefined()
MAX_DEPTH = 16


def cbor_decode(data: bytes, canonical: bool = True):
    """Decodes one item that must fill `data` exactly.

    canonical=True refuses everything section 5 forbids: non-shortest arguments,
    indefinite lengths, map keys out of bytewise order or repeated. canonical=False is
    only for reading the format version before the claims are checked (section 8).
    """
    value, end = _item(data, 0, canonical, 0)
    if end != len(data):
        raise malformed(f"{len(data) - end} trailing byte(s) after the CBOR item")
    return value


def _item(data: bytes, pos: int, canonical: bool, depth: int):
    if depth > MAX_DEPTH:
        raise malformed("CBOR nested too deeply")
    if pos >= len(data):
        raise malformed("CBOR truncated")
    ib = data[pos]
    major, info = ib >> 5, ib & 0x1F
    pos += 1
    if info < 24:
        arg = info
    elif info <= 27:
        n = 1 << (info - 24)
        if pos + n > len(data):
            raise malformed("CBOR truncated")
        raw = data[pos : pos + n]
        pos += n
        if major == 7:
            if info == 24:
                raise malformed("CBOR simple value in two bytes")
            fmt = {25: ">e", 26: ">f", 27: ">d"}[info]
            return struct.unpack(fmt, raw)[0], pos
        arg = int.from_bytes(raw, "big")
        if canonical and arg < (24 if info == 24 else 1 << (8 * n // 2)):
            raise malformed("CBOR argument not in its shortest form")
    elif info == 31:
        raise malformed("CBOR indefinite length (or a stray break)")
    else:
        raise malformed("CBOR reserved additional information")

    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major in (2, 3):
        if arg > len(data) - pos:
            raise malformed("CBOR string longer than the input")
        raw = data[pos : pos + arg]
        pos += arg
        if major == 2:
            return bytes(raw), pos
        try:
            return raw.decode("utf-8"), pos
        except UnicodeDecodeError as e:
            raise malformed("CBOR text string is not UTF-8") from e
    if major == 4:
        if arg > len(data) - pos:  # each item takes at least one byte
            raise malformed("CBOR array longer than the input")
        items = []
        for _ in range(arg):
            item, pos = _item(data, pos, canonical, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        if arg > (len(data) - pos) // 2:
            raise malformed("CBOR map longer than the input")
        out: dict = {}
        previous = None
        for _ in range(arg):
            start = pos
            key, pos = _item(data, pos, canonical, depth + 1)
            encoded_key = data[start:pos]
            if not isinstance(key, (int, str, bytes)) or isinstance(key, bool):
                raise malformed("CBOR map key is not an integer or a string")
            if canonical and previous is not None and encoded_key <= previous:
                what = "repeated" if encoded_key == previous else "out of order"
                raise malformed(f"CBOR map key {key!r} {what}")
            previous = encoded_key
            out[key], pos = _item(data, pos, canonical, depth + 1)
        return out, pos
    if major == 6:
        value, pos = _item(data, pos, canonical, depth + 1)
        return Tag(arg, value), pos
    # major 7 with a one-byte argument
    simple = {20: False, 21: True, 22: None, 23: UNDEFINED}
    if arg not in simple:
        raise malformed(f"CBOR simple value {arg}")
    return simple[arg], pos


def cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise ValueError("too large for CBOR")


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """RFC 9052 section 4.4 with an empty external AAD (spec section 2), encoded by hand."""
    context = b"Signature1"
    return (
        cbor_head(4, 4)
        + cbor_head(3, len(context))
        + context
        + cbor_head(2, len(protected))
        + protected
        + cbor_head(2, 0)
        + cbor_head(2, len(payload))
        + payload
    )


# ---------------------------------------------------------------------------------------
# Section 4: keys and kids.

ALG_EDDSA, ALG_PS256 = -8, -37


class VerifyKey:
    """A public key of the keyring: its kid, its algorithm and the two libraries' views."""

    def __init__(self, public, name: str):
        self.public = public  # cryptography key
        self.name = name
        spki = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.spki = spki
        self.kid = hashlib.sha256(spki).digest()[:8]
        if isinstance(public, ed25519.Ed25519PublicKey):
            self.alg = ALG_EDDSA
        elif isinstance(public, rsa.RSAPublicKey):
            if not 2048 <= public.key_size <= 4096:
                raise LicetError("KEYRING_INVALID", f"RSA key of {public.key_size} bits")
            self.alg = ALG_PS256
        else:
            raise LicetError("KEYRING_INVALID", f"unsupported key type {type(public).__name__}")
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.cose = CoseKey.from_pem_public_key(pem.decode())


PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)


def load_keyring(pem_text: str) -> dict[bytes, VerifyKey]:
    """signature.pem: PUBLIC KEY blocks, and LICET ENDORSEMENT blocks that a keyring of bare
    keys skips (sections 4, 13.1); any other label invalidates it."""
    keys: dict[bytes, VerifyKey] = {}
    for label in re.findall(r"-----BEGIN ([^-]*)-----", pem_text):
        if label not in ("PUBLIC KEY", "LICET ENDORSEMENT"):
            raise LicetError("KEYRING_INVALID", f"a {label} block in signature.pem")
    for i, m in enumerate(PEM_BLOCK.finditer(pem_text)):
        if m.group(1) != "PUBLIC KEY":
            continue
        block = m.group(0)
        der = serialization.load_pem_public_key(block.encode())
        key = VerifyKey(der, f"signature.pem key {i}")
        raw_der = _pem_der(block)
        if raw_der != key.spki:
            raise LicetError("KEYRING_INVALID", f"{key.name}: SPKI is not in its DER form")
        keys[key.kid] = key
    if not keys:
        raise LicetError("KEYRING_INVALID", "no PUBLIC KEY block in signature.pem")
    return keys


def _pem_der(block: str) -> bytes:
    body = "".join(line for line in block.splitlines() if not line.startswith("-----"))
    return base64.b64decode(body, validate=True)


def _der_tlvs(der: bytes) -> list[tuple[int, bytes, bytes]]:
    """(tag, whole TLV, contents) of each DER element in `der` (enough for PKCS#8)."""
    out, pos = [], 0
    while pos < len(der):
        tag, length, start = der[pos], der[pos + 1], pos + 2
        if length & 0x80:
            n = length & 0x7F
            length, start = int.from_bytes(der[start : start + n], "big"), start + n
        out.append((tag, der[pos : start + length], der[start : start + length]))
        pos = start + length
    return out


def _der_sequence(body: bytes) -> bytes:
    n = len(body)
    if n < 128:
        return b"\x30" + bytes([n]) + body
    size = (n.bit_length() + 7) // 8
    return b"\x30" + bytes([0x80 | size]) + n.to_bytes(size, "big") + body


def load_private_key(pem: bytes):
    """A test key from its PKCS#8 PEM, as `cryptography` objects.

    licet writes Ed25519 keys as RFC 5958 OneAsymmetricKey v2 (version 1, with the
    [1] publicKey). No release of `cryptography` up to 50.0.2 reads that form
    (pyca/cryptography#15631, fixed by #15635), nor does OpenSSL before 3.5. So a
    version-1 key is rewritten as version 0 without its public key, and the public key
    derived from the private one must equal the one the file carried.
    """
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except ValueError:
        pass
    lines = pem.decode().strip().splitlines()
    if lines[0] != "-----BEGIN PRIVATE KEY-----" or lines[-1] != "-----END PRIVATE KEY-----":
        raise ValueError("not a PKCS#8 PEM")
    der = base64.b64decode("".join(lines[1:-1]), validate=True)
    outer = _der_tlvs(der)
    if len(outer) != 1 or outer[0][0] != 0x30:
        raise ValueError("PKCS#8: not one SEQUENCE")
    # version, privateKeyAlgorithm, privateKey, [1] publicKey (a BIT STRING's contents)
    inner = _der_tlvs(outer[0][2])
    if len(inner) != 4 or inner[0][1] != b"\x02\x01\x01" or inner[3][0] != 0x81:
        raise ValueError("PKCS#8: neither v1 nor a v2 key with a public key")
    v1 = _der_sequence(b"\x02\x01\x00" + inner[1][1] + inner[2][1])
    key = serialization.load_der_private_key(v1, password=None)
    bits = inner[3][2]
    embedded = bits[1:] if bits[:1] == b"\x00" else None  # no unused bits
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if embedded != raw:
        raise ValueError("PKCS#8 v2: the public key does not belong to the private key")
    return key


def private_pem_v1(key) -> str:
    """The key as a PKCS#8 v1 PEM, which pycose (through cryptography) can read."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# ---------------------------------------------------------------------------------------
# Section 7: claims.

KINDS = {1: "license", 2: "machine", 3: "lease"}
LICENSE_TYPES = {0: "trial", 1: "subscription", 2: "perpetual"}
TOP_CLAIMS = {1, 2, 3, 4, 5, 6, 7, -65537}
LICET_KEYS = {
    "license": {0, 1, 2, 5, 6, 7, 9},
    "machine": {0, 1, 2, 3, 4, 9, 16},
    "lease": {0, 1, 2, 3, 8, 9},
}
MAX_TIME = 2**63 - 1


def _is_uint(v) -> bool:
    return type(v) is int and v >= 0


def _tstr(v, lo: int, hi: int, what: str) -> str:
    if type(v) is not str or not lo <= len(v.encode()) <= hi:
        raise malformed(f"{what} is not a text string of {lo} to {hi} bytes")
    return v


def _bstr(v, size: int, what: str) -> bytes:
    if type(v) is not bytes or len(v) != size:
        raise malformed(f"{what} is not a byte string of {size} bytes")
    return v


def _time(v, what: str) -> int:
    if not _is_uint(v) or v > MAX_TIME:
        raise malformed(f"{what} is not a whole, non-negative number of seconds")
    return v


def check_claims(payload: dict) -> dict:
    """Applies every rule of section 7 to a decoded payload; returns the section 7.3 JSON.

    The payload's canonical form (section 5) is checked by the caller."""
    if type(payload) is not dict:
        raise malformed("the payload is not a map")
    unknown = set(payload) - TOP_CLAIMS
    if unknown:
        raise malformed(f"unknown claim(s) {sorted(unknown, key=str)}")
    for required in (3, 6, 7, -65537):
        if required not in payload:
            raise malformed(f"claim {required} is missing")
    lc = payload[-65537]
    if type(lc) is not dict:
        raise malformed("the licet claim is not a map")
    if lc.get(0) not in (1, 2) or type(lc.get(0)) is not int:
        raise malformed("the licet claim's version is not 1 or 2")
    # Section 8: version 2 is version 1 plus the grace end (key 16), and a token carries
    # version 2 exactly when it carries the key.
    if (lc[0] == 2) != (16 in lc):
        raise malformed("version 2 without a grace end, or a grace end under version 1")
    kind = KINDS.get(lc.get(1)) if type(lc.get(1)) is int else None
    if kind is None:
        raise malformed("the licet claim's kind is not 1, 2 or 3")
    extra = set(lc) - LICET_KEYS[kind]
    if extra:
        raise malformed(f"key(s) {sorted(extra, key=str)} not allowed in a {kind} claim")

    out = {
        "kind": kind,
        "product": _tstr(payload[3], 1, 64, "aud"),
        "issued_at": _time(payload[6], "iat"),
        "id": _bstr(payload[7], 16, "cti").hex(),
        "issuer": _tstr(payload[1], 1, 128, "iss") if 1 in payload else None,
        "customer": _tstr(payload[2], 1, 128, "sub") if 2 in payload else None,
        "expires_at": _time(payload[4], "exp") if 4 in payload else None,
        "not_before": _time(payload[5], "nbf") if 5 in payload else None,
        "features": [],
        "metadata": {},
    }
    if kind in ("machine", "lease") and out["expires_at"] is None:
        raise malformed(f"a {kind} token has no exp")
    if 2 in lc:
        features = lc[2]
        if type(features) is not list or not 1 <= len(features) <= 64:
            raise malformed("features is not a list of 1 to 64 entries")
        for f in features:
            _tstr(f, 1, 64, "a feature")
        encoded = [f.encode() for f in features]
        if any(a >= b for a, b in zip(encoded, encoded[1:])):
            raise malformed("features are not sorted and unique")
        out["features"] = list(features)
    if 9 in lc:
        metadata = lc[9]
        if type(metadata) is not dict or not 1 <= len(metadata) <= 16:
            raise malformed("metadata is not a map of 1 to 16 entries")
        for k, v in metadata.items():
            _tstr(k, 1, 32, "a metadata key")
            _tstr(v, 0, 256, "a metadata value")
        out["metadata"] = dict(metadata)
    if kind == "license":
        lt = lc.get(5)
        if 5 in lc and (type(lt) is not int or lt not in LICENSE_TYPES):
            raise malformed("license type is not 0, 1 or 2")
        for k in (6, 7):
            if k in lc and not _is_uint(lc[k]):
                raise malformed(f"licet key {k} is not an unsigned integer")
        out["license_type"] = LICENSE_TYPES[lt] if 5 in lc else None
        out["max_machines"] = lc.get(6)
        out["max_leases"] = lc.get(7)
    else:
        if 3 not in lc:
            raise malformed(f"a {kind} token has no license id")
        out["license_id"] = _bstr(lc[3], 16, "license id").hex()
        if kind == "machine":
            if 4 not in lc:
                raise malformed("a machine token has no fingerprint")
            out["fingerprint"] = _bstr(lc[4], 32, "fingerprint").hex()
            if 16 in lc:
                grace = _time(lc[16], "grace end")
                if grace < out["expires_at"]:
                    raise malformed("the grace end is before exp")
                # Section 7.3: present only when the token carries it.
                out["grace_ends_at"] = grace
        else:
            out["client_id"] = _tstr(lc[8], 1, 128, "client id") if 8 in lc else None
    return out


# ---------------------------------------------------------------------------------------
# Section 9: the verification order.

CODES_IMPLEMENTED = [
    "TOKEN_TOO_LARGE",
    "TOKEN_MALFORMED",
    "ALG_UNSUPPORTED",
    "KEY_UNKNOWN",
    "ALG_MISMATCH",
    "SIGNATURE_INVALID",
    "TOKEN_UNSUPPORTED_VERSION",
    "WRONG_KIND",
    "WRONG_PRODUCT",
    "CLOCK_ROLLBACK",
    "TOKEN_NOT_YET_VALID",
    "TOKEN_EXPIRED",
    "FINGERPRINT_MISMATCH",
    "KEYRING_INVALID",
]


# Section 3's strict Ed25519 rule on points: a small-order public key or R is refused.
# cryptography (OpenSSL) and pycose check only S < L, so the points are checked here, by
# decoding them (RFC 8032 section 5.1.3) and multiplying by the cofactor 8.
ED_P = 2**255 - 19
ED_D = (-121665 * pow(121666, ED_P - 2, ED_P)) % ED_P


def _ed_decode(b: bytes):
    if len(b) != 32:
        return None
    y = int.from_bytes(b, "little") & ((1 << 255) - 1)
    sign = b[31] >> 7
    if y >= ED_P:
        y -= ED_P  # a non-canonical encoding still names a point
    u, v = (y * y - 1) % ED_P, (ED_D * y * y + 1) % ED_P
    x = (u * pow(v, 3, ED_P) * pow(u * pow(v, 7, ED_P), (ED_P - 5) // 8, ED_P)) % ED_P
    if (v * x * x) % ED_P == (-u) % ED_P:
        x = (x * pow(2, (ED_P - 1) // 4, ED_P)) % ED_P
    if (v * x * x - u) % ED_P:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = ED_P - x
    return (x, y)


def _ed_add(p, q):
    (x1, y1), (x2, y2) = p, q
    t = ED_D * x1 * x2 * y1 * y2 % ED_P
    return (
        (x1 * y2 + x2 * y1) * pow(1 + t, ED_P - 2, ED_P) % ED_P,
        (y1 * y2 + x1 * x2) * pow(1 - t, ED_P - 2, ED_P) % ED_P,
    )


def ed25519_small_order(b: bytes) -> bool:
    """Whether `b` encodes a point of small order (whose 8-multiple is the identity)."""
    point = _ed_decode(b)
    if point is None:
        return False  # not a point at all: the signature check itself refuses it
    for _ in range(3):
        point = _ed_add(point, point)
    return point == (0, 1)


def ed25519_strict_refuses(key: VerifyKey, signature: bytes) -> bool:
    raw = key.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return ed25519_small_order(raw) or ed25519_small_order(signature[:32])


def verify_signature(key: VerifyKey, protected: bytes, payload: bytes, signature: bytes) -> bool:
    tbs = sig_structure(protected, payload)
    try:
        if key.alg == ALG_EDDSA:
            # cryptography (OpenSSL) refuses S >= L; the small-order points are refused here.
            if ed25519_strict_refuses(key, signature):
                return False
            key.public.verify(signature, tbs)
        else:
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            key.public.verify(signature, tbs, pss, hashes.SHA256())
        return True
    except InvalidSignature:
        return False


def open_envelope(data: bytes) -> tuple[int, bytes, bytes, bytes, bytes]:
    """Section 9 checks 3 and 4: (alg, kid, protected, payload, signature)."""
    msg = cbor_decode(data)
    if not isinstance(msg, Tag) or msg.tag != 18:
        raise malformed("not a COSE_Sign1 with tag 18")
    arr = msg.value
    if type(arr) is not list or len(arr) != 4:
        raise malformed("COSE_Sign1 is not an array of 4")
    protected, unprotected, payload, signature = arr
    if type(protected) is not bytes or type(payload) is not bytes or type(signature) is not bytes:
        raise malformed("protected header, payload or signature is not a byte string")
    if unprotected != {} or type(unprotected) is not dict:
        raise malformed("the unprotected header is not the empty map")
    header = cbor_decode(protected)
    if type(header) is not dict or list(header) != [1, 4]:
        raise malformed("the protected header is not exactly {1: alg, 4: kid}")
    alg, kid = header[1], header[4]
    if type(alg) not in (int, str):
        raise malformed("alg is neither an integer nor a text string")
    if type(kid) is not bytes or len(kid) != 8:
        raise malformed("kid is not a byte string of 8 bytes")
    if alg not in (ALG_EDDSA, ALG_PS256) or type(alg) is not int:
        raise LicetError("ALG_UNSUPPORTED", f"alg {alg!r}")
    return alg, kid, protected, payload, signature


def check_signed(key: VerifyKey, alg: int, protected: bytes, payload: bytes, signature: bytes) -> None:
    """Section 9 checks 6 and 7: the key's own algorithm, then the signature."""
    if key.alg != alg:
        raise LicetError("ALG_MISMATCH", f"alg {alg} with a key for {key.alg}")
    if not verify_signature(key, protected, payload, signature):
        raise LicetError("SIGNATURE_INVALID", "the signature does not verify")


def check_version(payload: bytes, known: tuple[int, ...] = (1,)) -> None:
    """Section 8: the format version, read before any other key. Tokens know versions 1
    and 2 (2: a machine token with a grace end); documents (section 13) version 1."""
    loose = cbor_decode(payload, canonical=False)
    lc = loose.get(-65537) if type(loose) is dict else None
    if type(lc) is not dict or 0 not in lc:
        raise malformed("no licet claim with a format version")
    if type(lc[0]) is not int or lc[0] not in known:
        raise LicetError("TOKEN_UNSUPPORTED_VERSION", f"format version {lc[0]!r}")


def verify(token, keyring: dict[bytes, VerifyKey], expect: dict) -> dict:
    """Section 9, in order; returns the claims JSON or raises LicetError.

    `token` is a str (text or file form) or bytes (binary form)."""
    # 1. size caps, before decoding
    if isinstance(token, str):
        if len(token.encode()) > MAX_TEXT:
            raise LicetError("TOKEN_TOO_LARGE", f"{len(token.encode())} bytes of text")
        # 2. text / file form
        named_kind, data = decode_form(token)
    else:
        named_kind, data = None, token
    if len(data) > MAX_BINARY:
        raise LicetError("TOKEN_TOO_LARGE", f"{len(data)} bytes of binary token")

    # 3. and 4.
    alg, kid, protected, payload, signature = open_envelope(data)
    # 5. kid
    key = keyring.get(kid)
    if key is None:
        raise LicetError("KEY_UNKNOWN", f"kid {kid.hex()}")
    # 6. and 7.
    check_signed(key, alg, protected, payload, signature)
    # 8. format version, read before any other key (section 8)
    check_version(payload, (1, 2))
    # 9. claims, canonical
    claims = check_claims(cbor_decode(payload))
    # 10. the prefix / armor names the signed kind
    if named_kind is not None and named_kind != claims["kind"]:
        raise malformed(f"a {claims['kind']} token under the {named_kind} prefix")
    # 11. kind
    if claims["kind"] != expect["kind"]:
        raise LicetError("WRONG_KIND", f"a {claims['kind']} token where a {expect['kind']} is expected")
    # 12. product, exactly
    if claims["product"] != expect["product"]:
        raise LicetError("WRONG_PRODUCT", f"for {claims['product']!r}")
    now, leeway = expect["now"], expect.get("leeway", 60)
    # 13. clock rollback
    last_seen = expect.get("last_seen")
    if last_seen is not None and now + leeway < last_seen:
        raise LicetError("CLOCK_ROLLBACK", "now is before the last-seen time")
    if now + leeway < claims["issued_at"]:
        raise LicetError("CLOCK_ROLLBACK", "now is before iat")
    # 14. nbf
    if claims["not_before"] is not None and now + leeway < claims["not_before"]:
        raise LicetError("TOKEN_NOT_YET_VALID", "now is before nbf")
    # 15. exp
    if claims["expires_at"] is not None and not now < claims["expires_at"] + leeway:
        raise LicetError("TOKEN_EXPIRED", "now is at or after exp")
    # 16. fingerprint
    fingerprint = expect.get("fingerprint")
    if claims["kind"] == "machine" and fingerprint is not None:
        if not hmac.compare_digest(bytes.fromhex(claims["fingerprint"]), bytes.fromhex(fingerprint)):
            raise LicetError("FINGERPRINT_MISMATCH", "another machine's fingerprint")
    return claims


# ---------------------------------------------------------------------------------------
# pycose's side: decoding and signature checking by a general COSE library.


def pycose_verify(data: bytes, keys: dict[bytes, VerifyKey]) -> tuple[bool, str]:
    """(verified, why) with pycose alone: decode, find the key by kid, verify."""
    try:
        msg = Sign1Message.decode(data)
    except Exception as e:  # pycose raises many kinds on undecodable input
        return False, f"pycose cannot decode it ({type(e).__name__}: {e})"
    kid = msg.phdr.get(KID)
    key = keys.get(kid) if isinstance(kid, bytes) else None
    if key is None:
        return False, f"no key for kid {kid!r}"
    if key.alg == ALG_EDDSA and ed25519_strict_refuses(key, msg.signature):
        return False, "section 3: a small-order Ed25519 key or R (pycose itself would accept it)"
    msg.key = key.cose
    try:
        ok = msg.verify_signature()
    except Exception as e:
        return False, f"pycose refused to verify ({type(e).__name__}: {e})"
    return bool(ok), "verified" if ok else "pycose: signature does not verify"


def cbor2_claims(data: bytes) -> dict:
    """Section 7 read with cbor2 (and pycose for the envelope), for comparison with (d)."""
    msg = Sign1Message.decode(data)
    return check_claims(cbor2.loads(msg.payload))


# ---------------------------------------------------------------------------------------
# Section 5 + pycose: minting.


def mint(
    private: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey, claims: dict, pem: str
) -> tuple[bytes, bytes]:
    """Signs `claims` (a CBOR-ready payload map) with pycose, as section 5 wants it.

    Returns the binary token and its kid."""
    public = private.public_key()
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = hashlib.sha256(spki).digest()[:8]
    alg = EdDSA if isinstance(private, ed25519.Ed25519PrivateKey) else Ps256
    payload = cbor2.dumps(claims, canonical=True)
    msg = Sign1Message(phdr={Algorithm: alg, KID: kid}, uhdr={}, payload=payload)
    msg.key = CoseKey.from_pem_private_key(pem)
    data = msg.encode(tag=True)
    # The bytes must be exactly section 2's shape; check it here rather than trust it.
    alg_bytes = b"\x27" if alg is EdDSA else b"\x38\x24"
    want_protected = b"\xa2\x01" + alg_bytes + b"\x04\x48" + kid
    if msg.phdr_encoded != want_protected:
        raise ValueError(
            f"pycose wrote the protected header {msg.phdr_encoded.hex()}, not {want_protected.hex()}"
        )
    if not data.startswith(b"\xd2\x84" + cbor_head(2, len(want_protected)) + want_protected + b"\xa0"):
        raise ValueError(f"pycose wrote an unexpected envelope {data[:24].hex()}")
    cbor_decode(data)  # canonical, no trailing bytes
    cbor_decode(payload)
    return data, kid


def minted_claims(alg: str, now: int) -> tuple[dict, dict]:
    """A fresh license: (the payload map, the section 7.3 JSON it must verify to)."""
    cti = os.urandom(16)
    exp = now + 365 * 86400
    features = sorted(["export-pdf", "batch-render", "cloud-sync", "python-minted"], key=str.encode)
    lc = {0: 1, 1: 1, 2: features, 5: 1}
    payload = {2: f"cus_py_{alg.lower()}", 3: "acme-studio-pro", 4: exp, 6: now, 7: cti, -65537: lc}
    if alg == "PS256":
        payload[1] = "Acme Software GmbH"
        lc[6] = 3
        lc[9] = {"minted-by": "pycose", "po": "PO-PY-1"}
    return payload, check_claims(payload)


def other_forms(kind: str, data: bytes) -> list[str]:
    """The same token as section 6 lets a person write it: the file form (with CRLF line
    ends), and the text in lower case, grouped by separators and white space, with
    Crockford's aliases (O for 0, I and L for 1). Every verifier must accept them all."""
    text = encode_text(kind, data)
    prefix, body = text.split("-", 1)
    aliased = body.replace("0", "O").replace("1", "l")
    aliased = aliased.replace("l", "I", aliased.count("l") // 2)
    grouped = " -\n ".join(aliased[i : i + 8] for i in range(0, len(aliased), 8))
    return [
        encode_file(kind, data).replace("\n", "\r\n"),
        f"{prefix.lower()}-{grouped.lower()}\n",
    ]


def mint_all(keys_dir: Path, keyring: dict[bytes, VerifyKey]) -> dict:
    now = int(time.time())
    tokens = []
    for alg, path in (("EdDSA", "ed25519.pem"), ("PS256", "rsa-2048.pem")):
        private = load_private_key((keys_dir / path).read_bytes())
        payload, claims = minted_claims(alg, now)
        data, kid = mint(private, payload, private_pem_v1(private))
        tokens.append(
            {
                "name": f"python-{alg.lower()}",
                "alg": alg,
                "kid": kid.hex(),
                "token": encode_text("license", data),
                "other_forms": other_forms("license", data),
                "expect": {
                    "kind": "license",
                    "product": "acme-studio-pro",
                    "now": now,
                    "leeway": 60,
                    "fingerprint": None,
                    "last_seen": None,
                },
                "claims": claims,
            }
        )
    versions = {p: importlib.metadata.version(p) for p in ("pycose", "cbor2", "cryptography")}
    return {
        "comment": "licet licenses minted by test-vectors/conformance/check.py with pycose; checked by test-vectors/tests/python_minted.rs. TEST KEYS ONLY.",
        "minted_with": versions,
        "signature_pem": "keys/signature.pem",
        "tokens": tokens,
    }


# ---------------------------------------------------------------------------------------
# The run.

# Section 10's table and section 11's example, as the spec states them.
SPEC_SIZES = {
    "license-ed25519": (192, 312),
    "license-ps256": (386, 622),
    "license-ed25519-perpetual": (137, 224),
    "license-ed25519-rich": (266, 430),
    "machine-ed25519": (233, 377),
    "lease-ed25519": (213, 345),
    "lease-ps256": (407, 656),
}
SPEC_EXAMPLE_HEAD = bytes.fromhex("d2844da201270448a49580964b11e515a0586ba602686375735f38383432036f")
SPEC_FILE_FIRST_LINE = "LIC-TA24V8G14W24H94NG2B4P4F52PG5GTX609M66XBKBWW3GD1J0DQP2RVDCMPQ"


# ---------------------------------------------------------------------------------------
# Section 13: signed documents (endorsements, revocation lists, receipts).

KIND_ENDORSEMENT, KIND_REVOCATIONS, KIND_RECEIPT = 4, 5, 6
MAX_REVOCATIONS = 1 << 20  # section 13.2
LEEWAY = 60


def pem_document(text: str, label: str, max_bytes: int) -> bytes:
    m = re.search(rf"-----BEGIN {label}-----\r?\n(.*?)-----END {label}-----", text, re.S)
    if m is None:
        raise malformed(f"no {label} block")
    data = base64.b64decode("".join(m.group(1).split()), validate=True)
    if len(data) > max_bytes:
        raise LicetError("TOKEN_TOO_LARGE", f"{len(data)} bytes")
    return data


def document_claims(payload: bytes, kind: int, top: list, licet: list) -> tuple[dict, dict]:
    """A document's claims: version first (section 8), then exactly these keys, canonical."""
    check_version(payload)
    claims = cbor_decode(payload)
    lc = claims[-65537]
    if lc.get(1) != kind:
        raise malformed(f"kind {lc.get(1)!r}, not {kind}")
    if list(claims) != top or list(lc) != licet:
        raise malformed(f"keys {list(claims)} / {list(lc)}, not {top} / {licet}")
    return claims, lc


def _uint(v, what: str) -> int:
    if not _is_uint(v):
        raise malformed(f"{what} is not an unsigned integer")
    return v


def verify_endorsement(data: bytes, root: VerifyKey, now: int) -> dict:
    """Section 13.1, in its order."""
    if len(data) > MAX_BINARY:
        raise LicetError("TOKEN_TOO_LARGE", f"{len(data)} bytes")
    alg, kid, protected, payload, signature = open_envelope(data)
    if kid != root.kid:
        raise LicetError("ENDORSEMENT_UNTRUSTED", f"signed by {kid.hex()}, not the root")
    check_signed(root, alg, protected, payload, signature)
    claims, lc = document_claims(payload, KIND_ENDORSEMENT, [4, 6, -65537], [0, 1, 10, 11])
    exp, iat = _uint(claims[4], "exp"), _uint(claims[6], "iat")
    if exp <= iat:
        raise malformed("exp is not after iat")
    spki = _bstr(lc[10], len(lc[10]) if type(lc[10]) is bytes else -1, "the endorsed key")
    try:
        key = VerifyKey(serialization.load_der_public_key(spki), "endorsed key")
    except (ValueError, TypeError) as ex:
        raise LicetError("KEYRING_INVALID", f"the endorsed key: {ex}")
    if key.spki != spki:
        raise LicetError("KEYRING_INVALID", "the endorsed key is not in its DER form")
    if lc[11] != key.kid:
        raise malformed("the endorsed kid is not its key's")
    if now >= exp + LEEWAY:
        raise LicetError("ENDORSEMENT_EXPIRED", f"ended at {exp}")
    return {
        "valid": True,
        "kid": key.kid.hex(),
        "alg": "EdDSA" if key.alg == ALG_EDDSA else "PS256",
        "root_kid": kid.hex(),
        "issued_at": iat,
        "expires_at": exp,
        "_key": key,
    }


REFUSALS = ("ENDORSEMENT_UNTRUSTED", "ENDORSEMENT_EXPIRED", "SIGNATURE_INVALID", "ALG_MISMATCH")


def load_root_keyring(pem_text: str, root: VerifyKey, now: int) -> tuple[dict, dict]:
    """Section 13.1: the keys endorsed by the pinned root, and the refused ones' codes."""
    keys: dict[bytes, VerifyKey] = {}
    refused: dict[bytes, str] = {}
    for label in re.findall(r"-----BEGIN ([^-]*)-----", pem_text):
        if label not in ("PUBLIC KEY", "LICET ENDORSEMENT"):
            raise LicetError("KEYRING_INVALID", f"a {label} block")
    count = 0
    for m in PEM_BLOCK.finditer(pem_text):
        if m.group(1) == "PUBLIC KEY":
            VerifyKey(serialization.load_pem_public_key(m.group(0).encode()), "public key")
            continue
        count += 1
        der = _pem_der(m.group(0))
        try:
            e = verify_endorsement(der, root, now)
            keys[e["_key"].kid] = e["_key"]
        except LicetError as ex:
            if ex.code not in REFUSALS:
                raise LicetError("KEYRING_INVALID", f"an endorsement: {ex}")
            named = cbor2.loads(cbor2.loads(der).value[2]).get(-65537, {}).get(11)
            refused[named] = ex.code
    if count == 0:
        raise LicetError("KEYRING_INVALID", "no LICET ENDORSEMENT block")
    return keys, refused


def verify_with_root(token: str, pem_text: str, root: VerifyKey, expect: dict) -> dict:
    keys, refused = load_root_keyring(pem_text, root, expect["now"])
    try:
        return verify(token, keys, expect)
    except LicetError as ex:
        if ex.code == "KEY_UNKNOWN":
            kid = cbor_decode(open_envelope(decode_form(token)[1])[2])[4]
            if kid in refused:
                raise LicetError(refused[kid], "the key's endorsement was refused")
        raise


def _ids(v, what: str) -> list[bytes]:
    if type(v) is not bytes or len(v) % 16:
        raise malformed(f"{what} is not a byte string of 16-byte ids")
    ids = [v[i : i + 16] for i in range(0, len(v), 16)]
    if any(a >= b for a, b in zip(ids, ids[1:])):
        raise malformed(f"{what} are not sorted and unique")
    return ids


def verify_revocations(text: str, keyring: dict, last: int | None) -> dict:
    """Section 13.2, in its order."""
    data = pem_document(text, "LICET REVOCATIONS", MAX_REVOCATIONS)
    alg, kid, protected, payload, signature = open_envelope(data)
    key = keyring.get(kid)
    if key is None:
        raise LicetError("REVOCATIONS_UNTRUSTED", f"kid {kid.hex()}")
    check_signed(key, alg, protected, payload, signature)
    claims, lc = document_claims(payload, KIND_REVOCATIONS, [1, 6, -65537], [0, 1, 12, 13, 14, 15])
    seq = _uint(lc[12], "sequence")
    if last is not None and seq < last:
        raise LicetError("REVOCATIONS_STALE", f"sequence {seq} < {last}")
    return {
        "valid": True,
        "kid": kid.hex(),
        "issuer": _tstr(claims[1], 1, 128, "iss"),
        "issued_at": _uint(claims[6], "iat"),
        "sequence": seq,
        "next_update": _uint(lc[13], "next update"),
        "licenses": [i.hex() for i in _ids(lc[14], "license ids")],
        "machines": [i.hex() for i in _ids(lc[15], "machine ids")],
    }


def verify_receipt(text: str, keyring: dict) -> dict:
    """Section 13.3, in its order."""
    data = pem_document(text, "LICET RECEIPT", MAX_BINARY)
    alg, kid, protected, payload, signature = open_envelope(data)
    key = keyring.get(kid)
    if key is None:
        raise LicetError("KEY_UNKNOWN", f"kid {kid.hex()}")
    check_signed(key, alg, protected, payload, signature)
    claims, lc = document_claims(payload, KIND_RECEIPT, [1, 6, -65537], [0, 1, 20, 21, 22, 23])
    return {
        "valid": True,
        "kid": kid.hex(),
        "issuer": _tstr(claims[1], 1, 128, "iss"),
        "released_at": _uint(claims[6], "iat"),
        "license_id": _bstr(lc[20], 16, "license id").hex(),
        "machine_id": _bstr(lc[21], 16, "machine id").hex(),
        "fingerprint": _bstr(lc[22], 32, "fingerprint").hex(),
        "request_digest": _bstr(lc[23], 32, "request digest").hex(),
    }


def revocation_check(lst: dict, claims: dict) -> str:
    license_id = claims["id"] if claims["kind"] == "license" else claims["license_id"]
    if license_id in lst["licenses"]:
        return "LICENSE_REVOKED"
    if claims["kind"] == "machine" and claims["id"] in lst["machines"]:
        return "MACHINE_REVOKED"
    return "valid"


def run_trust(t: "Tally", path: Path, keyring: dict) -> None:
    """Part (f): every vector of trust-vectors.json, with this script's verifier and pycose."""
    base = path.parent
    m = json.loads(path.read_text())
    root_keys = load_keyring((base / m["root"]).read_text())
    root = next(iter(root_keys.values()))
    for k in m["keys"]:
        vk = VerifyKey(load_private_key((base / k["private_key"]).read_bytes()).public_key(), k["name"])
        t.check("f", vk.kid.hex() == k["kid"], f"key {k['name']}: kid {vk.kid.hex()}")
    for v in m["endorsements"]:
        data = pem_document(v["endorsement"], "LICET ENDORSEMENT", MAX_BINARY)
        try:
            got = verify_endorsement(data, root, v["now"])
            got.pop("_key")
        except LicetError as ex:
            got = {"valid": False, "error": ex.code}
        t.check("f", got == v["result"], f"{v['name']}: {differences(got, v['result'])}")
        pycose_case(t, v["name"], data, root_keys, v["result"])
    for v in m["root_keyrings"]:
        try:
            verify_with_root(v["token"], v["signature_pem"], root, v["expect"])
            got = {"valid": True}
        except LicetError as ex:
            got = {"valid": False, "error": ex.code}
        t.check("f", got == v["result"], f"{v['name']}: {differences(got, v['result'])}")
    for v in m["revocations"]:
        try:
            got = verify_revocations(v["revocations"], keyring, v["last_sequence"])
            got["checks"] = [
                {"token": c["token"], "kind": c["kind"], "result": revocation_check(
                    got, verify(c["token"], keyring, {"kind": c["kind"], "product": "acme-studio-pro", "now": 1_800_000_000}))}
                for c in v["result"].get("checks", [])
            ]
        except LicetError as ex:
            got = {"valid": False, "error": ex.code}
        t.check("f", got == v["result"], f"{v['name']}: {differences(got, v['result'])}")
        data = pem_document(v["revocations"], "LICET REVOCATIONS", MAX_REVOCATIONS)
        pycose_case(t, v["name"], data, keyring, v["result"])
    for v in m["receipts"]:
        try:
            got = verify_receipt(v["receipt"], keyring)
        except LicetError as ex:
            got = {"valid": False, "error": ex.code}
        t.check("f", got == v["result"], f"{v['name']}: {differences(got, v['result'])}")
        data = pem_document(v["receipt"], "LICET RECEIPT", MAX_BINARY)
        pycose_case(t, v["name"], data, keyring, v["result"])
    n = len(m["endorsements"]) + len(m["root_keyrings"]) + len(m["revocations"]) + len(m["receipts"])
    print(f"trust vectors: {n} (endorsements, keyrings from a pinned root, revocation lists, receipts)")


def pycose_case(t: "Tally", name: str, data: bytes, keys: dict, result: dict) -> None:
    """pycose verifies every valid document, and refuses every one with a bad signature."""
    if result.get("valid"):
        ok, why = pycose_verify(data, keys)
        t.check("f", ok, f"{name}: pycose says {why}")
    elif result.get("error") == "SIGNATURE_INVALID":
        ok, why = pycose_verify(data, keys)
        t.check("f", not ok, f"{name}: pycose accepts a bad signature")


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.by_section: dict[str, int] = {}

    def check(self, section: str, ok: bool, what: str) -> bool:
        self.by_section[section] = self.by_section.get(section, 0) + 1
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL [{section}] {what}", flush=True)
        return ok


def check_vector(
    t: Tally, v: dict, keyring: dict[bytes, VerifyKey], sig_keys: dict[bytes, VerifyKey], base: Path
) -> str:
    """Parts (a) to (d) for one vector; returns the outcome it stands for (VALID or a code)."""
    name, token, e, r = v["name"], v["token"], v["expect"], v["result"]
    # A vector may name its own keyring: the files it lists, concatenated. Loading it may
    # itself be the refusal (KEYRING_INVALID) the vector expects.
    keyring_error = None
    if "keyring" in v:
        text = "".join((base / f).read_text() for f in v["keyring"])
        try:
            keyring = load_keyring(text)
            sig_keys = {**sig_keys, **keyring}
        except LicetError as ex:
            keyring_error = ex

    # (a) the text and file forms
    try:
        _, data = decode_form(token)
    except LicetError:
        data = None
    if r["signature"] != "unchecked":
        t.check("a", data is not None, f"{name}: the text/file form does not decode")
    if data is not None and r["valid"] and token == token.upper() and not token.startswith("-----"):
        t.check(
            "a",
            encode_text(e["kind"], data) == token.strip(ASCII_WHITESPACE),
            f"{name}: re-encoding the bytes gives another text",
        )
    if data is not None and r["valid"] and token.startswith("-----"):
        t.check(
            "a", encode_file(e["kind"], data) == token, f"{name}: re-encoding the bytes gives another file"
        )

    # (b) pycose accepts the good signatures; the claims read with cbor2 match
    if r["signature"] == "valid" and data is not None:
        ok, why = pycose_verify(data, sig_keys)
        t.check("b", ok, f"{name}: signature should verify with pycose: {why}")
        if r["valid"]:
            try:
                got = cbor2_claims(data)
            except Exception as ex:
                got = f"{type(ex).__name__}: {ex}"
            t.check(
                "b",
                got == r["claims"],
                f"{name}: claims via cbor2 differ from the manifest's: {differences(got, r['claims'])}",
            )

    # (c) pycose refuses the bad ones
    if r["signature"] == "invalid" and data is not None:
        ok, why = pycose_verify(data, sig_keys)
        t.check("c", not ok, f"{name}: pycose verified a signature the manifest calls invalid")

    # (d) this script's own verifier, in section 9's order
    try:
        if keyring_error is not None:
            raise keyring_error
        got = ("valid", verify(token, keyring, e))
    except LicetError as ex:
        got = (ex.code, ex.why)
    if r["valid"]:
        if got[0] == "valid":
            t.check(
                "d",
                got[1] == r["claims"],
                f"{name}: claims differ from the manifest's: {differences(got[1], r['claims'])}",
            )
        else:
            t.check("d", False, f"{name}: expected valid, got {got[0]} ({got[1]})")
    else:
        why = "its claims" if got[0] == "valid" else got[1]
        t.check("d", got[0] == r["error"], f"{name}: expected {r['error']}, got {got[0]} ({why})")
    return "VALID" if r["valid"] else r["error"]


def differences(got, want) -> str:
    """What differs between two claims objects, for a readable failure."""
    if not isinstance(got, dict) or not isinstance(want, dict):
        return f"{got!r} != {want!r}"
    keys = sorted(set(got) | set(want))
    return "; ".join(
        f"{k}: {got.get(k, '(absent)')!r} != {want.get(k, '(absent)')!r}"
        for k in keys
        if got.get(k, ...) != want.get(k, ...)
    )


def run(manifest_path: Path, mint_out: Path | None) -> int:
    t = Tally()
    base = manifest_path.parent
    manifest = json.loads(manifest_path.read_text())
    keyring = load_keyring((base / manifest["signature_pem"]).read_text())
    print(
        f"keyring: {len(keyring)} keys from {manifest['signature_pem']}: "
        + ", ".join(k.kid.hex() for k in keyring.values())
    )

    # Keys the manifest names: their kids, and the other vendor's public key, which only
    # pycose uses (to show the key-unknown vector carries a good signature, just not ours).
    sig_keys = dict(keyring)
    for k in manifest["keys"]:
        private = load_private_key((base / k["private_key"]).read_bytes())
        vk = VerifyKey(private.public_key(), k["name"])
        t.check(
            "keys", vk.kid.hex() == k["kid"], f"key {k['name']}: kid {vk.kid.hex()}, manifest says {k['kid']}"
        )
        t.check(
            "keys",
            (vk.kid in keyring) == k["in_signature_pem"],
            f"key {k['name']}: in signature.pem is {vk.kid in keyring}",
        )
        sig_keys.setdefault(vk.kid, vk)

    vectors = manifest["vectors"]
    sig_counts = {"valid": 0, "invalid": 0, "unchecked": 0}
    seen_codes: set[str] = set()
    for v in vectors:
        sig_counts[v["result"]["signature"]] += 1
        try:
            seen_codes.add(check_vector(t, v, keyring, sig_keys, base))
        except Exception as ex:  # a crash on one vector is a failure, not the end of the run
            t.check("crash", False, f"{v.get('name')}: {type(ex).__name__}: {ex}")

    for code in CODES_IMPLEMENTED:
        t.check("d", code in seen_codes, f"no vector covers {code}")

    # The spec's own numbers (sections 6.3, 10, 11) against the vectors.
    by_name = {v["name"]: v for v in vectors}

    def binary(name: str) -> bytes | None:
        try:
            return decode_form(by_name[name]["token"])[1]
        except (KeyError, LicetError):
            return None

    for name, (nbin, ntext) in SPEC_SIZES.items():
        data = binary(name)
        sizes = (len(data), len(by_name[name]["token"])) if data is not None else None
        t.check(
            "spec",
            sizes == (nbin, ntext),
            f"{name}: spec section 10 says {nbin} B / {ntext} chars, vector has {sizes}",
        )
    first = binary("license-ed25519")
    t.check(
        "spec",
        first is not None and first.startswith(SPEC_EXAMPLE_HEAD),
        "license-ed25519 does not start as section 11's annotated example",
    )
    file_vector = by_name.get("license-ed25519-file")
    t.check(
        "spec",
        file_vector is not None and file_vector["token"].splitlines()[1:2] == [SPEC_FILE_FIRST_LINE],
        "license-ed25519-file's first line is not section 6.3's",
    )

    print(
        f"vectors: {len(vectors)} ({sig_counts['valid']} with a valid signature, {sig_counts['invalid']} invalid, {sig_counts['unchecked']} unchecked)"
    )
    print(f"(d) checks these codes: {', '.join(['VALID'] + CODES_IMPLEMENTED)}")
    print("(b)-(d) refuse small-order Ed25519 keys and R themselves (section 3; cryptography and pycose do not)")

    # (e) mint, then check the fresh tokens with both of this script's verifiers
    if mint_out is not None:
        try:
            minted = mint_all(base / "keys", keyring)
        except (ValueError, LicetError) as ex:
            minted = {"tokens": []}
            t.check("e", False, f"minting failed: {ex}")
        for m in minted["tokens"]:
            try:
                got = verify(m["token"], keyring, m["expect"])
                why = f"claims differ: {differences(got, m['claims'])}"
            except LicetError as ex:
                got, why = None, f"refused: {ex}"
            t.check("e", got == m["claims"], f"minted {m['name']}: own verifier: {why}")
            ok, why = pycose_verify(decode_form(m["token"])[1], keyring)
            t.check("e", ok, f"minted {m['name']}: pycose says {why}")
            for i, form in enumerate(m["other_forms"]):
                try:
                    same = decode_form(form)[1] == decode_form(m["token"])[1]
                    why = "another token"
                except LicetError as ex:
                    same, why = False, str(ex)
                t.check("e", same, f"minted {m['name']}, other form {i}: {why}")
        if minted["tokens"]:
            mint_out.write_text(json.dumps(minted, indent=1, sort_keys=True) + "\n")
            print(f"minted {len(minted['tokens'])} tokens into {mint_out}")

    trust = base / "trust-vectors.json"
    if trust.exists():
        try:
            run_trust(t, trust, keyring)
        except Exception as ex:  # a crash in part (f) is a failure, not the end of the run
            t.check("crash", False, f"trust vectors: {type(ex).__name__}: {ex}")

    print("checks by part: " + ", ".join(f"{k} {n}" for k, n in sorted(t.by_section.items())))
    if t.failed:
        print(f"conformance check FAILED: {t.failed} disagreement(s) above", file=sys.stderr)
    print(f"{t.passed} passed, {t.failed} failed")
    return 1 if t.failed else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--vectors",
        type=Path,
        default=DEFAULT_MANIFEST,
        help="the manifest (default: test-vectors/vectors.json)",
    )
    p.add_argument("--mint-out", type=Path, help="mint fresh tokens with pycose and write them here as JSON")
    args = p.parse_args()
    try:
        return run(args.vectors.resolve(), args.mint_out)
    except Exception as ex:  # a setup error (a missing file, a bad key) is a failed run
        print(f"conformance check could not run: {type(ex).__name__}: {ex}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1


if __name__ == "__main__":
    sys.exit(main())
