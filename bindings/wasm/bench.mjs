// Times one verify from JavaScript (not run in CI: CI asserts no time; docs/benchmarks.md
// has the figures). For each of an Ed25519 and a PS256 license of test-vectors/, it times
// keyring.verify() (the whole check: base32, COSE, signature, claims) and, in the same
// run, Node's own crypto.verify() (OpenSSL) of the same signature over the same bytes, so
// that the ratio says what the WebAssembly build costs whatever the machine's load.
// Usage (after build.sh): node bindings/wasm/bench.mjs [rounds, 15]
import { createPublicKey, verify as nodeVerify, constants } from "node:crypto";
import { readFileSync } from "node:fs";

import { Keyring } from "./node.js";

const rounds = Number(process.argv[2] ?? 15);
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

/** CPU microseconds (user + system) per call of `f` over `n` calls. */
function cpu(f, n) {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) f();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => `lowest ${Math.min(...xs).toFixed(1)} µs, median ${median(xs).toFixed(1)} µs`;

console.log(`node ${process.version}, ${rounds} rounds; CPU time per call (process.cpuUsage)`);
for (const [name, vector, alg, n] of [["Ed25519", "license-ed25519", "EdDSA", 1000], ["PS256", "license-ps256", "PS256", 500]]) {
  const v = manifest.vectors.find((v) => v.name === vector);
  const options = { kind: "license", product: v.expect.product, now: v.expect.now };
  const [protectedHeader, payload, signature] = coseSign1(base32(v.token.slice(4)));
  const message = sigStructure(protectedHeader, payload);
  const key = keys.find((k) => (alg === "EdDSA") === (k.asymmetricKeyType === "ed25519"));
  const check = alg === "EdDSA"
    ? () => nodeVerify(null, message, key, signature)
    : () => nodeVerify("sha256", message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature);
  if (!check()) throw new Error(`node:crypto refused ${vector}: the bench decodes the token wrongly`);
  const licet = () => keyring.verify(v.token, options).free();
  cpu(licet, 200); // warm-up: the JIT and the module's first allocations
  cpu(check, 200);
  const wasm = [], openssl = [], ratio = [];
  for (let r = 0; r < rounds; r++) {
    // Taking turns within each round, so that a burst of load slows both alike.
    const a = cpu(licet, n), b = cpu(check, n);
    wasm.push(a); openssl.push(b); ratio.push(a / b);
  }
  console.log(`${name}: keyring.verify ${fmt(wasm)}; node:crypto.verify of the same signature ${fmt(openssl)}; ratio, median of rounds ${median(ratio).toFixed(2)}`);
}
