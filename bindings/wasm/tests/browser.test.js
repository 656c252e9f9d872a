// The browser entry (browser.js, what "exports" gives a browser, an Electron renderer or a
// bundler), run in Node: nothing works before init(), then init() with the module's bytes
// (a browser would pass nothing, or a URL, and init() would fetch it) makes the same
// Keyring and VerifyError work. A file of its own: `node --test` runs each file in its own
// process, so node.js's synchronous init in the other files does not mask a missing one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import init, { Keyring, VerifyError } from "../browser.js";
import { MANIFEST, read } from "./vectors.js";

test("browser.js: init() loads the module, then the API is the same", async () => {
  const pem = read(MANIFEST.signature_pem);
  assert.throws(() => Keyring.fromPem(pem), "usable before init()");
  const bytes = readFileSync(new URL("../pkg/licet_bg.wasm", import.meta.url));
  await init({ module_or_path: bytes });
  const keyring = Keyring.fromPem(pem);
  const v = MANIFEST.vectors.find((v) => v.name === "license-expired");
  const e = v.expect;
  assert.throws(
    () => keyring.verify(v.token, { kind: e.kind, product: e.product, now: e.now }),
    (err) => err instanceof VerifyError && err.code === "TOKEN_EXPIRED",
  );
  const good = MANIFEST.vectors.find((v) => v.name === "license-ed25519");
  const ok = keyring.verify(good.token, { kind: "license", product: e.product, now: good.expect.now });
  assert.deepEqual(ok.toJSON(), good.result.claims);
});
