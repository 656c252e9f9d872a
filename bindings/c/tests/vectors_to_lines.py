#!/usr/bin/env python3
"""Turns test-vectors/vectors.json into a line-based file that vectors.c reads without a
JSON parser (C has none in its standard library, and vendoring one is more code to trust
than these lines).

Output, one record per line, fields separated by one space, every free-text field in hex
(tokens in the file form hold line breaks; products and PEM text may hold anything):

  keyring <hex of the manifest's signature_pem file>
  vector <name> <kind> <product hex> <now> <leeway> <fingerprint hex|-> <last_seen|->
         <own keyring hex (- if empty)|none> <expected code: OK or the error code> <claims hex|-> <token hex>

Each vector is read exactly as test-vectors/tests/vectors.rs reads it: the expectations
from "expect", the keyring from "keyring" (the concatenation of the files it names) or
else the manifest's signature_pem, and the verdict from "result" (valid, error, claims).
Claims are written as canonical JSON (keys sorted, no white space, UTF-8 as is), the
form licet_claims_to_json returns.

Usage: vectors_to_lines.py test-vectors/vectors.json > vectors.lines
"""

import json
import sys
from pathlib import Path


def hx(text: str) -> str:
    return text.encode("utf-8").hex() or "-"


def main() -> None:
    manifest_path = Path(sys.argv[1])
    root = manifest_path.parent
    m = json.loads(manifest_path.read_text(encoding="utf-8"))
    out = [f"keyring {hx((root / m['signature_pem']).read_text(encoding='utf-8'))}"]
    for v in m["vectors"]:
        e, r = v["expect"], v["result"]
        own = v.get("keyring")
        own_hex = hx("".join((root / f).read_text(encoding="utf-8") for f in own)) if own is not None else "none"
        if r["valid"]:
            code = "OK"
            claims = json.dumps(r["claims"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        else:
            code, claims = r["error"], None
        fields = [
            "vector",
            v["name"],
            e["kind"],
            hx(e["product"]),
            str(e["now"]),
            str(e["leeway"]),
            e["fingerprint"] or "-",
            "-" if e["last_seen"] is None else str(e["last_seen"]),
            own_hex,
            code,
            hx(claims) if claims is not None else "-",
            hx(v["token"]),
        ]
        assert all(f and " " not in f for f in fields), v["name"]
        out.append(" ".join(fields))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
