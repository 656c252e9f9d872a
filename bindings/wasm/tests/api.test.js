// The JavaScript surface: bad input gives a clear exception (never a trap of the module),
// the clock is read only when `now` is left out, and the keyring is reused. The same
// ground as bindings/python/tests/test_api.py.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Claims, Keyring, VerifyError, initSync } from "../node.js";
import { MANIFEST, read } from "./vectors.js";

const KEYRING = Keyring.fromPem(read(MANIFEST.signature_pem));
const BY_NAME = Object.fromEntries(MANIFEST.vectors.map((v) => [v.name, v]));
const LICENSE = BY_NAME["license-ed25519"];
const MACHINE = BY_NAME["machine-ed25519"];
const OK = { kind: "license", product: "acme-studio-pro", now: LICENSE.expect.now };
const CODES = new Set([
  "TOKEN_MALFORMED", "TOKEN_TOO_LARGE", "TOKEN_UNSUPPORTED_VERSION", "KEY_UNKNOWN",
  "ALG_UNSUPPORTED", "ALG_MISMATCH", "SIGNATURE_INVALID", "TOKEN_EXPIRED",
  "TOKEN_NOT_YET_VALID", "CLOCK_ROLLBACK", "WRONG_KIND", "WRONG_PRODUCT",
  "FINGERPRINT_MISMATCH", "KEYRING_INVALID",
]);

/** The code a refusal carries, or "VALID". */
function outcome(token, options, keyring = KEYRING) {
  try {
    keyring.verify(token, options);
    return "VALID";
  } catch (e) {
    if (!(e instanceof VerifyError)) throw e;
    return e.code;
  }
}

test("a good token verifies, and the module still works after every refusal below", () => {
  const claims = KEYRING.verify(LICENSE.token, OK);
  assert.ok(claims instanceof Claims);
  assert.equal(claims.product, "acme-studio-pro");
  assert.equal(claims.kind, "license");
});

const WRONG = [
  [{ kind: "licence" }, TypeError, /options\.kind must be 'license', 'machine' or 'lease'/],
  [{ kind: 1 }, TypeError, /options\.kind must be a string, not number/],
  [{ kind: undefined }, TypeError, /options\.kind must be a string, not undefined/],
  [{ product: null }, TypeError, /options\.product must be a string, not null/],
  [{ product: Buffer.from("acme-studio-pro") }, TypeError, /options\.product must be a string, not object/],
  [{ product: "acme-\ud800" }, TypeError, /lone surrogate/],
  [{ now: "1800000000" }, TypeError, /options\.now must be whole seconds/],
  [{ now: true }, TypeError, /options\.now must be whole seconds/],
  [{ now: 1800000000.5 }, RangeError, /options\.now must be a whole number/],
  [{ now: NaN }, RangeError, /options\.now must be a whole number/],
  [{ now: Infinity }, RangeError, /options\.now must be a whole number/],
  // The refused value as JavaScript writes it (the module formats no floats itself).
  [{ now: -Infinity }, RangeError, /, not -Infinity$/],
  [{ leeway: 0.25 }, RangeError, /, not 0\.25$/],
  [{ now: -1 }, RangeError, /options\.now must be a whole number/],
  [{ now: 2 ** 53 }, RangeError, /options\.now must be a whole number/],
  [{ now: -1n }, RangeError, /options\.now must be from 0 to 2n \*\* 64n - 1n/],
  [{ now: 2n ** 64n }, RangeError, /options\.now must be from 0 to 2n \*\* 64n - 1n/],
  [{ lastSeen: -5 }, RangeError, /options\.lastSeen must be a whole number/],
  [{ lastSeen: [] }, TypeError, /options\.lastSeen must be whole seconds.*an array/],
  [{ leeway: 1.5 }, RangeError, /options\.leeway must be a whole number/],
  [{ leeway: {} }, TypeError, /options\.leeway must be whole seconds/],
  [{ fingerprint: "00".repeat(31) }, TypeError, /64 hex digits or 32 bytes/],
  [{ fingerprint: "zz".repeat(32) }, TypeError, /64 hex digits or 32 bytes/],
  [{ fingerprint: "é".repeat(64) }, TypeError, /64 hex digits or 32 bytes/],
  [{ fingerprint: new Uint8Array(31) }, TypeError, /64 hex digits or 32 bytes/],
  // A subclass's iterator may yield anything: each byte is checked to be a whole 0 to 255.
  ...[1.5, 256, -1, NaN, "7"].map((bad) => [
    { fingerprint: new (class extends Uint8Array { *[Symbol.iterator]() { for (let i = 0; i < 32; i++) yield i ? 0 : bad; } })(32) },
    TypeError,
    /64 hex digits or 32 bytes/,
  ]),
  [{ fingerprint: 0 }, TypeError, /options\.fingerprint must be a string of 64 hex digits, a Uint8Array/],
  [{ fingerprint: [0, 1] }, TypeError, /options\.fingerprint must be .* not an array/],
  [{ colour: "red" }, TypeError, /unknown option "colour"; the options are kind, product/],
  [{ 'say "hi"\n': 1 }, TypeError, /unknown option "say \\"hi\\"\\n";/],
  [{ last_seen: 5 }, TypeError, /unknown option "last_seen"/],
];

for (const [change, error, message] of WRONG) {
  test(`a wrong option is a clear ${error.name}: ${JSON.stringify(change, (_, v) => (typeof v === "bigint" ? `${v}n` : v))}`, () => {
    assert.throws(() => KEYRING.verify(LICENSE.token, { ...OK, ...change }), (e) => {
      assert.ok(e instanceof error, `${e}`);
      assert.ok(!(e instanceof VerifyError));
      assert.match(e.message, message);
      return true;
    });
  });
}

test("options missing or not an object is a TypeError that says what to pass", () => {
  for (const options of [undefined, null, "license", 7, [], () => OK]) {
    assert.throws(() => KEYRING.verify(LICENSE.token, options), {
      name: "TypeError",
      message: /options must be an object such as \{ kind: 'license', product: 'my-app' \}/,
    });
  }
  assert.throws(() => KEYRING.verify(LICENSE.token), TypeError);
  assert.throws(() => KEYRING.verify(LICENSE.token, {}), /options\.kind must be a string, not undefined/);
  // An exception thrown by a getter of the options passes through unchanged.
  const boom = new Error("boom");
  const hostile = { kind: "license", get product() { throw boom; } };
  assert.throws(() => KEYRING.verify(LICENSE.token, hostile), (e) => e === boom);
});

test("a token or a PEM that is not a string is a TypeError", () => {
  for (const token of [undefined, null, 42, Buffer.from(LICENSE.token), new Uint8Array(4), {}, [LICENSE.token], Symbol("t"), 1n]) {
    assert.throws(() => KEYRING.verify(token, OK), { name: "TypeError", message: /^token must be a string, not / });
    assert.throws(() => Keyring.fromPem(token), { name: "TypeError", message: /^text must be a string, not / });
  }
  assert.throws(() => Keyring.fromPem(), TypeError);
});

const HOSTILE = [
  ["", "TOKEN_MALFORMED"],
  ["LIC-", "TOKEN_MALFORMED"],
  ["LIC-\0\0\0", "TOKEN_MALFORMED"],
  ["é".repeat(100), "TOKEN_MALFORMED"],
  // A lone surrogate reaches the verifier as U+FFFD, a character no token holds.
  [LICENSE.token.slice(0, 50) + "\udc80" + LICENSE.token.slice(51), "TOKEN_MALFORMED"],
  ["LIC-" + "A".repeat(50_000_000), "TOKEN_TOO_LARGE"],
  ["é".repeat(9000), "TOKEN_TOO_LARGE"], // 9000 UTF-16 units, 18000 UTF-8 bytes: over the cap
];

for (const [token, code] of HOSTILE) {
  test(`hostile text is refused with ${code} (${token.length} characters)`, () => {
    assert.equal(outcome(token, OK), code);
  });
}

test("a huge token is refused before it is copied into the module", () => {
  // Copied, 200 million characters would grow the module's memory by 200 MB (and take
  // hundreds of milliseconds); refused on its length, the memory does not grow at all.
  // initSync() of the already loaded module returns its exports, its memory among them.
  const { memory } = initSync();
  const huge = "A".repeat(200_000_000);
  const before = memory.buffer.byteLength;
  assert.equal(outcome(huge, OK), "TOKEN_TOO_LARGE");
  assert.equal(outcome("é".repeat(100_000_000), OK), "TOKEN_TOO_LARGE");
  assert.equal(memory.buffer.byteLength, before, "the module's memory grew: the token was copied");
});

test("a bad keyring is KEYRING_INVALID", () => {
  for (const text of [
    "",
    "garbage",
    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    "-----BEGIN PUBLIC KEY-----\n" + "A".repeat(10_000),
    "x".repeat(2_000_000),
  ]) {
    assert.throws(() => Keyring.fromPem(text), (e) => {
      assert.ok(e instanceof VerifyError, `${e}`);
      assert.equal(e.code, "KEYRING_INVALID");
      assert.match(e.message, /^signature\.pem cannot be used: /);
      return true;
    });
  }
});

test("damaged tokens are refused with a code, never a crash", () => {
  // Seeded, so that a failure can be replayed: 2,000 copies of a good token with one to
  // three characters changed, dropped or inserted.
  let seed = 12;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ-ilo \n\0é\ud800";
  const outcomes = new Set();
  for (let n = 0; n < 2000; n++) {
    const t = [...LICENSE.token];
    for (let k = 1 + rand(3); k > 0; k--) {
      const i = rand(t.length);
      const op = rand(3);
      if (op === 0) t[i] = alphabet[rand(alphabet.length)];
      else if (op === 1) t.splice(i, 1);
      else t.splice(i, 0, alphabet[rand(alphabet.length)]);
    }
    const got = outcome(t.join(""), OK);
    assert.ok(got === "VALID" || CODES.has(got), got);
    outcomes.add(got);
  }
  assert.ok(outcomes.has("TOKEN_MALFORMED") && outcomes.has("SIGNATURE_INVALID"), [...outcomes].join());
});

test("machine fingerprint as hex (either case) or bytes", () => {
  const e = MACHINE.expect;
  const fp = e.fingerprint;
  const options = { kind: "machine", product: e.product, now: e.now };
  assert.equal(KEYRING.verify(MACHINE.token, { ...options, fingerprint: fp }).fingerprint, fp);
  assert.equal(KEYRING.verify(MACHINE.token, { ...options, fingerprint: fp.toUpperCase() }).fingerprint, fp);
  assert.equal(KEYRING.verify(MACHINE.token, { ...options, fingerprint: Buffer.from(fp, "hex") }).fingerprint, fp);
  assert.equal(outcome(MACHINE.token, { ...options, fingerprint: new Uint8Array(32) }), "FINGERPRINT_MISMATCH");
});

test("now, lastSeen and leeway as numbers or bigints say the same", () => {
  const exp = LICENSE.result.claims.expires_at;
  assert.equal(outcome(LICENSE.token, { ...OK, now: BigInt(exp) + 60n }), "TOKEN_EXPIRED");
  assert.equal(outcome(LICENSE.token, { ...OK, now: exp + 59 }), "VALID");
  assert.equal(outcome(LICENSE.token, { ...OK, now: exp + 59, leeway: 0n }), "TOKEN_EXPIRED");
  assert.equal(outcome(LICENSE.token, { ...OK, lastSeen: BigInt(OK.now) + 3600n }), "CLOCK_ROLLBACK");
  assert.equal(outcome(LICENSE.token, { ...OK, now: 2n ** 64n - 1n }), "TOKEN_EXPIRED");
  assert.equal(outcome(LICENSE.token, { ...OK, lastSeen: null, leeway: null, fingerprint: null }), "VALID");
});

test("the clock is read only when now is left out, and then it decides", (t) => {
  const exp = LICENSE.result.claims.expires_at;
  let reads = 0;
  let clockMs = 0;
  t.mock.method(Date, "now", () => {
    reads += 1;
    return clockMs;
  });
  const options = { kind: "license", product: "acme-studio-pro" };
  // A given `now` decides alone, and the clock is not read.
  assert.equal(outcome(LICENSE.token, { ...options, now: exp + 60 }), "TOKEN_EXPIRED");
  assert.equal(outcome(LICENSE.token, { ...options, now: OK.now }), "VALID");
  assert.equal(reads, 0);
  // Left out (or null): Date.now() is read, once a call, and its milliseconds are floored.
  clockMs = OK.now * 1000 + 999;
  assert.equal(outcome(LICENSE.token, options), "VALID");
  assert.equal(reads, 1);
  clockMs = (exp + 60) * 1000;
  assert.equal(outcome(LICENSE.token, { ...options, now: null }), "TOKEN_EXPIRED");
  assert.equal(reads, 2);
  clockMs = (exp + 60) * 1000 - 1; // 0.999 s before: floored to exp + 59, within the leeway
  assert.equal(outcome(LICENSE.token, { ...options, now: undefined }), "VALID");
  assert.equal(reads, 3);
  // A clock before 1970 reads as 0, before any token's issue time.
  clockMs = -5000;
  assert.equal(outcome(LICENSE.token, options), "CLOCK_ROLLBACK");
});

test("the keyring: its keys, one keyring for many checks, free() releases it", () => {
  assert.equal(KEYRING.size, 2);
  assert.equal(KEYRING.kids.length, 2);
  for (const kid of KEYRING.kids) assert.match(kid, /^[0-9a-f]{16}$/);
  for (let i = 0; i < 1000; i++) KEYRING.verify(LICENSE.token, OK);
  const own = Keyring.fromPem(read(MANIFEST.signature_pem));
  own.free();
  assert.throws(() => own.verify(LICENSE.token, OK), {
    name: "TypeError",
    message: "this Keyring was freed, or was not made by Keyring.fromPem(text)",
  });
  assert.throws(() => new Keyring().size, /this Keyring was freed, or was not made by/);
  assert.equal(outcome(LICENSE.token, OK), "VALID");
});

// An exception that unwinds through the module's frames leaves their stack allocated
// (wasm-bindgen issue 1959): before the binding caught them, 546 calls with an options
// Proxy whose trap throws broke the module for good ("memory access out of bounds"), and so
// did a few thousand calls on a freed keyring. Each case runs 5,000 times here, and then a
// token must still verify.
test("hostile objects and calls on freed objects, thousands of times, leave the module working", (t) => {
  const boom = new Error("boom");
  const { proxy: revoked, revoke } = Proxy.revocable({}, {});
  revoke();
  class Hostile extends Uint8Array {
    *[Symbol.iterator]() {
      throw boom;
    }
  }
  const cases = [
    ["a Proxy whose ownKeys trap throws", () => KEYRING.verify(LICENSE.token, new Proxy({}, { ownKeys() { throw boom; } })), boom],
    ["a revoked Proxy as options", () => KEYRING.verify(LICENSE.token, revoked), TypeError],
    ["a getter that throws", () => KEYRING.verify(LICENSE.token, { ...OK, get leeway() { throw boom; } }), boom],
    ["a Uint8Array whose iterator throws", () => KEYRING.verify(MACHINE.token, { ...OK, kind: "machine", fingerprint: new Hostile(32) }), boom],
    ["a freed keyring", () => { const k = Keyring.fromPem(read(MANIFEST.signature_pem)); k.free(); k.free(); k.verify(LICENSE.token, OK); }, TypeError],
    ["a freed claims object", () => { const c = KEYRING.verify(LICENSE.token, OK); c.free(); c[Symbol.dispose]?.(); return c.product; }, TypeError],
    ["an empty Keyring shell", () => new Keyring().verify(LICENSE.token, OK), TypeError],
  ];
  for (const [what, call, expected] of cases) {
    for (let i = 0; i < 5000; i++) {
      assert.throws(call, expected === boom ? (e) => e === boom : expected, what);
    }
  }
  t.mock.method(Date, "now", () => {
    throw boom;
  });
  for (let i = 0; i < 5000; i++) {
    assert.throws(() => KEYRING.verify(LICENSE.token, { kind: "license", product: "acme-studio-pro" }), (e) => e === boom);
  }
  t.mock.restoreAll();
  assert.equal(outcome(LICENSE.token, OK), "VALID");
  assert.equal(outcome(MACHINE.token, { kind: "machine", product: "acme-studio-pro", now: MACHINE.expect.now, fingerprint: new Uint8Array(32) }), "FINGERPRINT_MISMATCH");
});

test("claims: camelCase properties, hasFeature and the JSON form", () => {
  const rich = BY_NAME["license-ed25519-rich"];
  const claims = KEYRING.verify(rich.token, { kind: "license", product: rich.expect.product, now: rich.expect.now });
  assert.equal(claims.issuedAt, rich.result.claims.issued_at);
  assert.equal(claims.licenseType, "trial");
  assert.equal(claims.maxMachines, 10);
  assert.equal(claims.licenseId, claims.id);
  assert.equal(claims.fingerprint, undefined);
  assert.ok(claims.hasFeature("export-pdf"));
  for (const notAFeature of ["EXPORT-PDF", "", undefined, null, 1, ["export-pdf"], "export-pdf\ud800"]) {
    assert.equal(claims.hasFeature(notAFeature), false, String(notAFeature));
  }
  // Each access gives a new array and object: changing one changes nothing else.
  claims.features.push("render-farm");
  claims.metadata.region = "us";
  assert.ok(!claims.hasFeature("render-farm"));
  assert.equal(claims.metadata.region, "eu");
  assert.deepEqual(JSON.parse(JSON.stringify({ claims })).claims, rich.result.claims);
  assert.equal(Object.getPrototypeOf(claims.toJSON()), Object.prototype);
});

test("VerifyError is an Error subclass with a name and a code", () => {
  try {
    KEYRING.verify(LICENSE.token, { ...OK, product: "other" });
    assert.fail("accepted a token for another product");
  } catch (e) {
    assert.ok(e instanceof VerifyError && e instanceof Error);
    assert.equal(e.name, "VerifyError");
    assert.equal(e.code, "WRONG_PRODUCT");
    assert.match(String(e), /^VerifyError: /);
    assert.ok(e.stack);
  }
});
