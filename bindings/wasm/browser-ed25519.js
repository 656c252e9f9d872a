// The `@licet/verifier/ed25519` entry in a browser, an Electron renderer or a bundler:
// browser.js's API over the smaller module built without RSA (pkg-ed25519/), loaded with
// `await init()` (it fetches pkg-ed25519/licet_bg.wasm) before the first
// `Keyring.fromPem`. An RSA key is refused with KEYRING_INVALID, a PS256 token with
// ALG_UNSUPPORTED.
import { Claims, Keyring } from "./pkg-ed25519/licet.js";
import { guardClasses } from "./guard.js";

guardClasses(Keyring, Claims);

export { Keyring, Claims, initSync, default } from "./pkg-ed25519/licet.js";
export { VerifyError } from "./verify-error.js";
