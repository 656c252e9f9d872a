// A typed use of the package, checked by `tsc --noEmit` in ci.sh against the package's
// published declarations (resolved through package.json's "exports", as an application's
// compiler resolves them). Each @ts-expect-error line must be an error: if the types let
// the wrong call through (an `any`, a missing field), tsc fails on the unused directive.
import {
  Keyring,
  VerifyError,
  type Claims,
  type ClaimsJSON,
  type Kind,
  type VerifyErrorCode,
  type VerifyOptions,
} from "@licet/verifier";

declare const pem: string;
declare const token: string;

const keyring: Keyring = Keyring.fromPem(pem);
const kids: string[] = keyring.kids;
const size: number = keyring.size;

const options: VerifyOptions = {
  kind: "license",
  product: "acme-studio-pro",
  now: 1_800_000_000,
  lastSeen: 1_799_000_000n,
  leeway: 60,
  fingerprint: null,
};
const machine: VerifyOptions = { kind: "machine", product: "p", fingerprint: new Uint8Array(32) };

try {
  const claims: Claims = keyring.verify(token, options);
  const kind: Kind = claims.kind;
  const features: string[] = claims.features;
  const expires: number | undefined = claims.expiresAt;
  const issued: number = claims.issuedAt;
  const type: "trial" | "subscription" | "perpetual" | undefined = claims.licenseType;
  const metadata: Record<string, string> = claims.metadata;
  const pdf: boolean = claims.hasFeature("export-pdf");
  const json: ClaimsJSON = claims.toJSON();
  const expiresJson: number | null = json.expires_at;
  keyring.verify(token, machine).free();
  void [kids, size, kind, features, expires, issued, type, metadata, pdf, expiresJson];
} catch (e) {
  if (e instanceof VerifyError) {
    const code: VerifyErrorCode = e.code;
    const message: string = e.message;
    void [code, message];
  }
}

// @ts-expect-error the kind is one of three names
keyring.verify(token, { kind: "licence", product: "p" });
// @ts-expect-error the product is required
keyring.verify(token, { kind: "license" });
// @ts-expect-error now is whole seconds (a number or a bigint), not a string
keyring.verify(token, { kind: "license", product: "p", now: "1800000000" });
// @ts-expect-error a Python-style option name is not an option
keyring.verify(token, { kind: "license", product: "p", last_seen: 5 });
// @ts-expect-error the options are required
keyring.verify(token);
// @ts-expect-error the token is text
keyring.verify(new Uint8Array(4), options);
// @ts-expect-error the PEM is text
Keyring.fromPem(new Uint8Array(4));
// @ts-expect-error the codes are a closed set
const wrongCode: VerifyErrorCode = "EXPIRED";
void wrongCode;

// The Ed25519-only entry has the same API and the same declarations.
import { Keyring as Ed25519Keyring, VerifyError as Ed25519VerifyError } from "@licet/verifier/ed25519";
const small: Ed25519Keyring = Ed25519Keyring.fromPem(pem);
try {
  const claims: Claims = small.verify(token, options);
  void claims;
} catch (e) {
  if (e instanceof Ed25519VerifyError) {
    const code: VerifyErrorCode = e.code;
    void code;
  }
}
// @ts-expect-error the options are required here too
small.verify(token);
