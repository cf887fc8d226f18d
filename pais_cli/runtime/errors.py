"""Typed errors of the serving side; each says what would work instead."""

from __future__ import annotations

from ..errors import PaisError, UsageError


class InvalidRoutingName(UsageError):
    """A routing name that is not provider/model_id."""


class DeployRefused(PaisError):
    """The endpoint cannot be served as asked (engine, format, placement or store)."""


class DetectionError(PaisError):
    """The model type, format or size could not be read from the revision."""


class KubectlError(PaisError):
    """kubectl is missing, cannot reach a cluster, or refused the manifests."""


class Forbidden(KubectlError):
    """The cluster refused a read or write to the caller (RBAC)."""


class Unreachable(KubectlError):
    """kubectl is missing or no API server answers."""


class MissingCRD(KubectlError):
    """The cluster does not serve a kind pais uses (the NIM Operator's CRDs are not installed)."""


class GatewayError(PaisError):
    """The OpenAI-compatible gateway could not be listed."""
