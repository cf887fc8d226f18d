"""Typed errors. Each says what happened and what to do about it.

The CLI prints `error: <message>` and `hint: <hint>`, then exits with `exit_code`.
"""

from __future__ import annotations


class PaisError(Exception):
    """Base of every error the tool reports to a user."""

    exit_code = 1
    default_hint: str | None = None

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class UsageError(PaisError):
    """The command line asks for something malformed or contradictory."""

    exit_code = 2


class InvalidReference(UsageError):
    """A model name, tag, digest or store that does not follow the rules."""


class ConfigError(UsageError):
    """The user's config file cannot be read or names an unknown gallery."""


class FlavorMismatch(PaisError):
    """A revision's media type flavour is not its destination's: a refusal, not a usage error."""


class NotFound(PaisError):
    """A model, tag, revision or blob is not in the gallery."""


class TagConflict(PaisError):
    """A tag already names another revision and moving it was not asked for."""


class RegistryError(PaisError):
    """The registry answered with something the protocol does not allow, or failed."""


class RegistryNotFound(RegistryError, NotFound):
    """The registry answered that a repository, manifest or blob does not exist."""


class TransientError(RegistryError):
    """A failure that may not happen again: worth a bounded retry, and resumable afterwards."""

    retry_after: float | None = None  # seconds the server asked to wait (Retry-After)
    exhausted: bool = False  # its retries were spent where it happened: an outer level does not retry it again


class RegistryUnreachable(TransientError):
    """No connection to the registry could be made, or it stopped answering (a stall)."""


class RegistryStalled(RegistryUnreachable):
    """Connected, but the registry stopped sending (a stall), or the connection broke off."""


class RegistryUnavailable(TransientError):
    """The registry answered 429 or 5xx: overloaded or failing for now."""

    def __init__(self, message: str, hint: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after


class AuthenticationError(RegistryError):
    """The registry refused the credentials, or asked for credentials we do not have."""


class PermissionDenied(RegistryError):
    """Credentials were accepted but do not allow the operation."""


class TLSError(RegistryError):
    """The registry's TLS certificate could not be verified."""


class NotAModel(PaisError):
    """The artifact is not a ModelPack model."""


class UnsafeArtifact(PaisError):
    """The artifact would write outside its destination or is otherwise hostile."""


class DigestMismatch(PaisError):
    """Bytes did not hash to the digest they were announced with: the store's copy is corrupt
    (or was altered on the way). Never retried, never resumed: nothing of it is kept."""


class MalformedArtifact(PaisError):
    """A manifest, descriptor or config that breaks the format (a digest of another algorithm,
    no layers, a config that is not JSON)."""


class InsufficientSpace(PaisError):
    """The destination's filesystem cannot hold what remains to be written."""


class Interrupted(PaisError):
    """SIGINT or SIGTERM stopped the command; what was complete is kept for the re-run."""

    exit_code = 130


class ModelDirectoryError(PaisError):
    """The model directory cannot be packed as it is."""


class TransferIncomplete(TransientError):
    """A blob stream ended before all its bytes arrived; what arrived is kept for resuming."""


class ValidationFailed(PaisError):
    """A model failed validation; the report says why."""

    def __init__(self, message: str, hint: str | None = None, report: object | None = None) -> None:
        super().__init__(message, hint)
        self.report = report


class NotValidated(PaisError):
    """A revision has no passing validation report and one was required."""
