// Every vector of test-vectors/vectors.json through the WebAssembly module: the same
// decision, code and claims as the Rust verifier (test-vectors/tests/vectors.rs reads them
// the same way: one keyring from signature.pem, or the vector's own keyring, which may
// itself be the refusal). bindings/python/tests/test_vectors.py is the same suite in Python.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Keyring, VerifyError } from "../node.js";
import { MANIFEST, read } from "./vectors.js";

const VECTORS = MANIFEST.vectors;
const KEYRING = Keyring.fromPem(read(MANIFEST.signature_pem));

// Every code the Rust suite insists a vector covers, and VALID.
const CODES = [
  "VALID", "TOKEN_MALFORMED", "TOKEN_TOO_LARGE", "TOKEN_UNSUPPORTED_VERSION", "KEY_UNKNOWN",
  "ALG_UNSUPPORTED", "ALG_MISMATCH", "SIGNATURE_INVALID", "TOKEN_EXPIRED",
  "TOKEN_NOT_YET_VALID", "CLOCK_ROLLBACK", "WRONG_KIND", "WRONG_PRODUCT",
  "FINGERPRINT_MISMATCH", "KEYRING_INVALID",
];

// The claims' properties, by the name the spec's JSON gives each.
const PROPERTIES = {
  kind: "kind", product: "product", issued_at: "issuedAt", id: "id", issuer: "issuer",
  customer: "customer", expires_at: "expiresAt", not_before: "notBefore",
  features: "features", metadata: "metadata", license_type: "licenseType",
  max_machines: "maxMachines", max_leases: "maxLeases", fingerprint: "fingerprint",
  client_id: "clientId",
};

/** Verifies one vector as its `expect` says; throws VerifyError when refused. */
function run(v) {
  const keyring = v.keyring ? Keyring.fromPem(v.keyring.map(read).join("")) : KEYRING;
  const e = v.expect;
  return keyring.verify(v.token, {
    kind: e.kind,
    product: e.product,
    fingerprint: e.fingerprint,
    now: e.now,
    lastSeen: e.last_seen,
    leeway: e.leeway,
  });
}

test("the manifest covers every code", () => {
  assert.ok(VECTORS.length >= 40, "the manifest lost vectors");
  const seen = new Set(VECTORS.map((v) => (v.result.valid ? "VALID" : v.result.error)));
  assert.deepEqual(CODES.filter((c) => !seen.has(c)), [], "codes no vector covers");
});

for (const v of VECTORS) {
  test(`vector ${v.name}`, () => {
    const r = v.result;
    if (r.valid) {
      const claims = run(v);
      const want = r.claims;
      // The JSON form is the spec's shape, key for key (a plain object, so deepEqual
      // compares every own key both ways).
      assert.deepEqual(claims.toJSON(), want);
      assert.deepEqual(JSON.parse(JSON.stringify(claims)), want);
      // The properties say the same; the claims a kind lacks are undefined.
      for (const [key, property] of Object.entries(PROPERTIES)) {
        assert.deepEqual(claims[property], want[key] ?? undefined, property);
      }
      assert.equal(claims.licenseId, want.license_id ?? want.id);
      for (const f of want.features) assert.ok(claims.hasFeature(f), f);
      assert.ok(!claims.hasFeature("no-such-feature"));
    } else {
      assert.throws(() => run(v), (err) => {
        assert.ok(err instanceof VerifyError, `not a VerifyError: ${err}`);
        assert.ok(err instanceof Error);
        assert.equal(err.code, r.error, err.message);
        assert.ok(err.message, "a refusal says why");
        return true;
      });
    }
  });
}
