// Times one verify from JavaScript (not run in CI: CI asserts no time; docs/benchmarks.md
// has the figures). For each of an Ed25519 and a PS256 license of test-vectors/, it times
// keyring.verify() (the whole check: base32, COSE, signature, claims) and, in the same
// run, Node's own crypto.verify() (OpenSSL) of the same signature over the same bytes, so
// that the ratio says what the WebAssembly build costs whatever the machine's load.
// Usage (after build.sh): node bindings/wasm/bench.mjs [seconds per measurement, 2]
import { createPublicKey, verify as nodeVerify, constants } from "node:crypto";
import { readFileSync } from "node:fs";

import { Keyring } from "./node.js";

const seconds = Number(process.argv[2] ?? 2);
const dir = new URL("../../test-vectors/", import.meta.url);
const manifest = JSON.parse(readFileSync(new URL("vectors.json", dir), "utf8"));
const pem = readFileSync(new URL(manifest.signature_pem, dir), "utf8");
const keyring = Keyring.fromPem(pem);
const keys = pem.match(/-----BEGIN PUBLIC KEY-----[^-]+-----END PUBLIC KEY-----/g).map((k) => createPublicKey(k));

/** Crockford base32 (the token's text form after its prefix) to bytes. */
function base32(text) {
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const out = [];
  let acc = 0, bits = 0;
  for (const c of text.replace(/-/g, "").toUpperCase()) {
    acc = (acc << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) { bits -= 8; out.push((acc >> bits) & 0xff); }
  }
  return Buffer.from(out);
}

/** The byte strings of a tagged COSE_Sign1: protected header, payload, signature. */
function coseSign1(bytes) {
  let i = 0;
  const head = () => {
    const b = bytes[i++], major = b >> 5, info = b & 31;
    let n = info;
    if (info === 24) n = bytes[i++];
    else if (info === 25) { n = bytes.readUInt16BE(i); i += 2; }
    else if (info === 26) { n = bytes.readUInt32BE(i); i += 4; }
    return [major, n];
  };
  const bstr = () => { const [, n] = head(); const s = bytes.subarray(i, i + n); i += n; return s; };
  head(); head(); // tag 18, array of 4
  const protectedHeader = bstr();
  head(); // the empty unprotected map
  const payload = bstr();
  return [protectedHeader, payload, bstr()];
}

/** The Sig_structure the signature covers (RFC 9052 §4.4), CBOR-encoded. */
function sigStructure(protectedHeader, payload) {
  const bstrHead = (n) => (n < 24 ? Buffer.from([0x40 | n]) : n < 256 ? Buffer.from([0x58, n]) : Buffer.from([0x59, n >> 8, n & 255]));
  return Buffer.concat([
    Buffer.from([0x84, 0x6a]), Buffer.from("Signature1"),
    bstrHead(protectedHeader.length), protectedHeader,
    Buffer.from([0x40]),
    bstrHead(payload.length), payload,
  ]);
}

/** Microseconds per call of `f`, over about `seconds`. */
function time(f) {
  for (let i = 0; i < 200; i++) f(); // warm-up: the JIT and the module's first allocations
  let n = 0;
  const start = process.hrtime.bigint(), end = start + BigInt(seconds * 1e9);
  let now = start;
  while (now < end) {
    for (let i = 0; i < 50; i++) f();
    n += 50;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / 1e3 / n;
}

console.log(`node ${process.version}, ${seconds} s per measurement`);
for (const [name, vector, alg] of [["Ed25519", "license-ed25519", "EdDSA"], ["PS256", "license-ps256", "PS256"]]) {
  const v = manifest.vectors.find((v) => v.name === vector);
  const options = { kind: "license", product: v.expect.product, now: v.expect.now };
  const [protectedHeader, payload, signature] = coseSign1(base32(v.token.slice(4)));
  const message = sigStructure(protectedHeader, payload);
  const key = keys.find((k) => (alg === "EdDSA") === (k.asymmetricKeyType === "ed25519"));
  const check = alg === "EdDSA"
    ? () => nodeVerify(null, message, key, signature)
    : () => nodeVerify("sha256", message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature);
  if (!check()) throw new Error(`node:crypto refused ${vector}: the bench decodes the token wrongly`);
  keyring.verify(v.token, options);
  const wasm = time(() => keyring.verify(v.token, options).free());
  const openssl = time(check);
  console.log(`${name}: keyring.verify ${wasm.toFixed(1)} µs, node:crypto.verify of the same signature ${openssl.toFixed(1)} µs, ratio ${(wasm / openssl).toFixed(2)}`);
}
