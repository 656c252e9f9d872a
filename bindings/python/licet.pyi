"""Offline verification of licet license, machine and lease tokens.

Type stubs of the `licet` extension module (src/lib.rs); keep the two in step.
"""

from typing import Final, Literal, final

__all__ = ["Claims", "Keyring", "VerifyError", "fingerprint", "__version__", "DEFAULT_LEEWAY"]

__version__: Final[str]
DEFAULT_LEEWAY: Final[int]

_Kind = Literal["license", "machine", "lease"]

class VerifyError(Exception):
    """A token or a keyring was refused.

    `code` is the stable reason, the same string as the Rust verifier's `Error::code()`:
    TOKEN_MALFORMED, TOKEN_TOO_LARGE, TOKEN_UNSUPPORTED_VERSION, KEY_UNKNOWN,
    ALG_UNSUPPORTED, ALG_MISMATCH, SIGNATURE_INVALID, TOKEN_EXPIRED, TOKEN_NOT_YET_VALID,
    CLOCK_ROLLBACK, WRONG_KIND, WRONG_PRODUCT, FINGERPRINT_MISMATCH or KEYRING_INVALID;
    from `fingerprint()`, FINGERPRINT_UNAVAILABLE. A pickled error keeps its `code`.
    """

    code: str

def fingerprint(product: str) -> str:
    """This machine's fingerprint hash for `product`, as 64 lower-case hex digits.

    The value `licet fingerprint --product P` prints; pass it as `fingerprint=` when
    verifying a machine token. Reads the machine's identity (LICET_MACHINE_ID when set,
    else the operating system's machine id), because that is what it is called for.
    Raises ValueError for an empty product or one over 64 bytes, and VerifyError
    (FINGERPRINT_UNAVAILABLE) when the machine has no readable id.
    """

@final
class Keyring:
    """The vendor's public keys, read once from `signature.pem` and reused for every check."""

    @staticmethod
    def from_pem(text: str) -> Keyring:
        """Reads `signature.pem`'s text; raises VerifyError (KEYRING_INVALID) if unusable."""

    def verify(
        self,
        token: str,
        *,
        kind: _Kind,
        product: str,
        fingerprint: str | bytes | None = None,
        now: int | None = None,
        last_seen: int | None = None,
        leeway: int | None = None,
    ) -> Claims:
        """Verifies a token (text or file form) and returns its claims.

        `now` is whole seconds since 1970; when it is None the system clock is read (and
        only then). Raises VerifyError with its `code` when the token is refused, TypeError
        or ValueError for an argument of the wrong type or out of range.
        """

    @property
    def kids(self) -> list[str]:
        """The key ids, 16 hex digits each."""

    def __len__(self) -> int: ...

@final
class Claims:
    """The claims of a token that passed every check (times in seconds since 1970)."""

    @property
    def kind(self) -> _Kind: ...
    @property
    def product(self) -> str: ...
    @property
    def issuer(self) -> str | None: ...
    @property
    def customer(self) -> str | None: ...
    @property
    def issued_at(self) -> int: ...
    @property
    def expires_at(self) -> int | None: ...
    @property
    def not_before(self) -> int | None: ...
    @property
    def id(self) -> str: ...
    @property
    def license_id(self) -> str:
        """The license this token belongs to; the token's own `id` for a license."""
    @property
    def features(self) -> list[str]: ...
    @property
    def metadata(self) -> dict[str, str]: ...
    @property
    def license_type(self) -> Literal["trial", "subscription", "perpetual"] | None: ...
    @property
    def max_machines(self) -> int | None: ...
    @property
    def max_leases(self) -> int | None: ...
    @property
    def fingerprint(self) -> str | None: ...
    @property
    def client_id(self) -> str | None: ...
    def has_feature(self, feature: str) -> bool: ...
    def to_dict(self) -> dict[str, object]:
        """The claims in the specification's JSON shape (token-format §7.3)."""
