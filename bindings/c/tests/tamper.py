#!/usr/bin/env python3
"""Print a license token with one character of its signature changed, for the CI scripts
that check a docs example refuses it (SIGNATURE_INVALID).

Usage: tamper.py TOKEN_FILE

The text form ends with the signature (docs/token-format.md), so the tenth character from
the end is inside it, and every bit of that base32 character is used; it is replaced by
another character of the Crockford alphabet.
"""
import sys

token = open(sys.argv[1], encoding="utf-8").read().strip()
i = len(token) - 10
token = token[:i] + ("1" if token[i] == "0" else "0") + token[i + 1 :]
print(token)
