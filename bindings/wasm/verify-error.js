/**
 * A token or a keyring was refused.
 *
 * `code` is the stable, machine-readable reason (for example `TOKEN_EXPIRED`), the same
 * string as the Rust verifier's `Error::code()`, the server's and the CLI's; the message
 * says what is wrong and what to do. The WebAssembly module imports this class (see
 * src/lib.rs) and throws it; the package's entry points export it for `instanceof`.
 */
export class VerifyError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "VerifyError";
    this.code = code;
  }
}
