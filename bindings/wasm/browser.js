// The package's entry point in a browser, an Electron renderer or a bundler: the
// WebAssembly module must be loaded once before the first `Keyring.fromPem`, with
// `await init()` (it fetches pkg/licet_bg.wasm relative to pkg/licet.js) or
// `await init({ module_or_path: url_or_bytes })`. browser-ed25519.js is the same for the
// smaller Ed25519-only module.
import { Claims, Keyring } from "./pkg/licet.js";
import { guardClasses } from "./guard.js";

guardClasses(Keyring, Claims);

export { Keyring, Claims, initSync, default } from "./pkg/licet.js";
export { VerifyError } from "./verify-error.js";
