// The package's entry point under Node (and Electron's main process): the WebAssembly
// module is read from beside this file and instantiated synchronously on import, so that
// `Keyring` is ready to use at once. Browsers get browser.js (package.json, "exports").
// node-ed25519.js is the same for the smaller Ed25519-only module.
import { readFileSync } from "node:fs";
import { Claims, Keyring, initSync } from "./pkg/licet.js";
import { guardClasses } from "./guard.js";

initSync({ module: readFileSync(new URL("./pkg/licet_bg.wasm", import.meta.url)) });
guardClasses(Keyring, Claims);

export { Keyring, Claims, initSync, default } from "./pkg/licet.js";
export { VerifyError } from "./verify-error.js";
