// The Ed25519-only browser entry (browser-ed25519.js, what "exports" gives a browser for
// `@licet/verifier/ed25519`), run in Node as browser.test.js runs browser.js: nothing works
// before init(), then its own module (pkg-ed25519/) verifies an EdDSA token and refuses a
// PS256 one as the Rust verifier without `rsa` does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import init, { Keyring, VerifyError } from "../browser-ed25519.js";
import { MANIFEST, pemBlocks, read } from "./vectors.js";

test("browser-ed25519.js: init() loads the Ed25519-only module", async () => {
  const ed25519 = MANIFEST.keys.find((k) => k.alg === "EdDSA" && k.in_signature_pem);
  // signature.pem without its RSA key: what a vendor that signs with Ed25519 ships.
  const pem = pemBlocks(read(MANIFEST.signature_pem)).filter((b) => !b.rsa).map((b) => b.text).join("");
  assert.throws(() => Keyring.fromPem(pem), "usable before init()");
  await init({ module_or_path: readFileSync(new URL("../pkg-ed25519/licet_bg.wasm", import.meta.url)) });
  const keyring = Keyring.fromPem(pem);
  assert.deepEqual(keyring.kids, [ed25519.kid]);
  const good = MANIFEST.vectors.find((v) => v.name === "license-ed25519");
  const options = { kind: "license", product: good.expect.product, now: good.expect.now };
  assert.deepEqual(keyring.verify(good.token, options).toJSON(), good.result.claims);
  const ps256 = MANIFEST.vectors.find((v) => v.name === "license-ps256");
  assert.throws(
    () => keyring.verify(ps256.token, options),
    (err) => err instanceof VerifyError && err.code === "ALG_UNSUPPORTED",
  );
  assert.throws(
    () => Keyring.fromPem(read(MANIFEST.signature_pem)),
    (err) => err instanceof VerifyError && err.code === "KEYRING_INVALID",
  );
});
