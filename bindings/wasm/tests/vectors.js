// Where the shared test vectors are: test-vectors/ at the repository's root, or
// $LICET_TEST_VECTORS (a folder holding vectors.json) when the tests run elsewhere.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export const VECTORS_DIR =
  process.env.LICET_TEST_VECTORS || fileURLToPath(new URL("../../../test-vectors/", import.meta.url));
// Read at import, so that a missing manifest fails the run loudly instead of running no
// vector test.
export const MANIFEST = JSON.parse(readFileSync(join(VECTORS_DIR, "vectors.json"), "utf8"));

/** A file named in the manifest, relative to it. */
export function read(path) {
  return readFileSync(join(VECTORS_DIR, path), "utf8");
}
