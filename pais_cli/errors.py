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


class NotFound(PaisError):
    """A model, tag, revision or blob is not in the gallery."""


class TagConflict(PaisError):
    """A tag already names another revision and moving it was not asked for."""


class RegistryError(PaisError):
    """The registry answered with something the protocol does not allow, or failed."""


class RegistryNotFound(RegistryError, NotFound):
    """The registry answered that a repository, manifest or blob does not exist."""


class RegistryUnreachable(RegistryError):
    """No connection to the registry could be made."""


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
    """Bytes did not hash to the digest they were announced with."""


class ModelDirectoryError(PaisError):
    """The model directory cannot be packed as it is."""


class TransferIncomplete(RegistryError):
    """A blob stream ended before all its bytes arrived; what arrived is kept for resuming."""


class ValidationFailed(PaisError):
    """A model failed validation; the report says why."""

    def __init__(self, message: str, hint: str | None = None, report: object | None = None) -> None:
        super().__init__(message, hint)
        self.report = report


class NotValidated(PaisError):
    """A revision has no passing validation report and one was required."""
