// The `@licet/verifier/ed25519` entry under Node: node.js's API over the smaller module
// built without RSA (pkg-ed25519/). It verifies EdDSA tokens only; an RSA key in the PEM
// is refused with KEYRING_INVALID and a PS256 token with ALG_UNSUPPORTED, as the Rust
// verifier without its `rsa` feature refuses them.
import { readFileSync } from "node:fs";
import { Claims, Keyring, initSync } from "./pkg-ed25519/licet.js";
import { guardClasses } from "./guard.js";

initSync({ module: readFileSync(new URL("./pkg-ed25519/licet_bg.wasm", import.meta.url)) });
guardClasses(Keyring, Claims);

export { Keyring, Claims, initSync, default } from "./pkg-ed25519/licet.js";
export { VerifyError } from "./verify-error.js";
