#!/usr/bin/env python3
"""Writes the starting corpora of the fuzz targets from the repository's own test data
(test-vectors/ and its keys), plus an offline request and one of each server JSON body.
The fuzzer grows them; `cargo fuzz cmin` keeps the committed ones small.
Usage: python3 fuzz/seeds.py   (only adds files; the names are content hashes)."""
import hashlib, json, os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def base32(text):
    """Crockford base32 as licet writes it (docs/token-format.md §6); None if not that."""
    if "-----BEGIN" in text:
        text = "".join(l for l in text.splitlines() if not l.startswith("-----"))
    head, _, body = text.strip().partition("-")
    bits = n = 0
    out = bytearray()
    for c in body.upper().replace("I", "1").replace("L", "1").replace("O", "0"):
        if c in "- \t\r\n":
            continue
        if c not in ALPHABET:
            return None
        bits = (bits << 5) | ALPHABET.index(c)
        n += 5
        if n >= 8:
            n -= 8
            out.append((bits >> n) & 0xFF)
            bits &= (1 << n) - 1
    return bytes(out)


def head(b, i):
    """A CBOR item head at i: (major type, argument, position after the head)."""
    major, info = b[i] >> 5, b[i] & 31
    if info < 24:
        return major, info, i + 1
    size = 1 << (info - 24)
    return major, int.from_bytes(b[i + 1 : i + 1 + size], "big"), i + 1 + size


def payload(token):
    """The payload of a COSE_Sign1 token (tag 18, 4-array, bstr, map, bstr, bstr)."""
    try:
        _, _, i = head(token, 0)  # tag
        _, _, i = head(token, i)  # array
        _, n, i = head(token, i)  # protected bstr
        i += n
        _, n, i = head(token, i)  # unprotected map: licet's is empty
        if n:
            return None
        major, n, i = head(token, i)
        return token[i : i + n] if major == 2 else None
    except IndexError:
        return None


texts = [v["token"] for v in json.load(open(os.path.join(ROOT, "test-vectors/vectors.json")))["vectors"]]
texts += [t["token"] for t in json.load(open(os.path.join(ROOT, "test-vectors/conformance/python-minted.json")))["tokens"] if "token" in t]
texts.append(open(os.path.join(ROOT, "test-vectors/example-license.txt")).read())
for text in texts:
    if len(text) > 4096:
        continue
    put("text", text)
    token = base32(text)
    if token:
        put("envelope", token)
        p = payload(token)
        if p:
            put("claims", p)

keys = os.path.join(ROOT, "test-vectors/keys")
for name in sorted(os.listdir(keys)):  # signature.pem and the private keys
    pem = open(os.path.join(keys, name)).read()
    put("keyring", pem)  # private keys too: the keyring must refuse them by name

license = open(os.path.join(ROOT, "test-vectors/example-license.txt")).read().strip()
request = {
    "licet_request": 1,
    "license": license,
    "fingerprint": "ab" * 32,
    "name": "build-01",
    "platform": "linux-x86_64",
    "nonce": "cd" * 16,
    "created_at": 1800000000,
}
text = "licet-request-v1\n" + "".join(f"{k}={request[k]}\n" for k in request)  # Request::digest_of
request["digest"] = hashlib.sha256(text.encode()).hexdigest()
put("offline_request", json.dumps(request, indent=2))
put("offline_request", json.dumps(dict(request, licet_request=2)))

bodies = [
    {"license_key": license, "fingerprint": "ab" * 32},
    {"license_key": license, "fingerprint": "ab" * 32, "name": "n", "platform": "p", "user": "u"},
    {"machine_token": "MCH-0"},
    {"license_key": license, "client_id": "c-1", "ttl": 600},
    {"lease_token": "LSE-0", "ttl": 60, "request_id": "r-1"},
    {"name": "acme-studio-pro", "support_message": "call us"},
    {"support_message": None},
    {"product": "acme-studio-pro", "type": "subscription", "features": ["a", "b"],
     "expires_at": "2030-01-01T00:00:00Z", "max_machines": 3, "max_leases": 2, "customer": "c",
     "metadata": {"k": "v"}, "lease_ttl": 600, "lease_ttl_max": 3600, "check_in_interval": 86400},
    {"expires_at": None, "max_machines": None, "customer": None, "type": None, "features": []},
    {"licenses": [{"product": "p"}, {"product": "q", "expires_at": "2030-01-01T00:00:00+02:00"}]},
    {"name": "p", "support_message": None, "created_at": 1, "updated_at": 2},
    {"seq": 1, "at": 2, "action": "license.create", "actor": "admin", "license_id": None,
     "detail": {"x": [1, 2.5, -3, True, None, "s"]}},
    {"id": "00" * 16, "license_id": "11" * 16, "client_id": None, "created_at": 1, "expires_at": 2,
     "released_at": None, "renewals": 0, "token_sha256": "22" * 32,
     "retry": {"request_id": "r", "previous_sha256": "33" * 32, "token": "LSE-0"}},
]
for body in bodies:
    put("server_json", json.dumps(body))
