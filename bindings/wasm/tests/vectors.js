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

// rsaEncryption, 1.2.840.113549.1.1.1, as DER writes the OID inside a SubjectPublicKeyInfo.
const RSA_OID = Buffer.from("06092a864886f70d010101", "hex");
const BLOCK = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----\n?/g;

/** The PEM blocks of a keyring text, each with whether it is an RSA key. */
export function pemBlocks(pem) {
  return [...pem.matchAll(BLOCK)].map((m) => ({
    text: m[0].endsWith("\n") ? m[0] : `${m[0]}\n`,
    rsa: Buffer.from(m[2].replace(/\s+/g, ""), "base64").includes(RSA_OID),
  }));
}
