"""Routing names (`provider/model_id`) and the Kubernetes names and labels derived from them.

The mapping (documented in docs/endpoints.md):

1. `provider/model_id` -> `provider-model_id`, lowercased; every `.`, `_` and `/` becomes `-`,
   runs of `-` collapse to one, and leading/trailing `-` are dropped.
2. A name that would start with a digit gets the prefix `ep-` (a Service name must start with
   a letter: DNS-1035).
3. With a suffix for a derived object (`-model`, `-fill-<rev>`, `-registry-ca`), the whole name
   must fit 63 characters; where it does not, the base is cut and `-<6 hex of sha256(routing
   name)>` is appended before the suffix, so that two long names never share a cut.

The same routing name always gives the same names, whatever the revision, so `kubectl apply`
of a redeploy swaps the revision in place. The mapping is not injective (`a.b/c` and `a-b/c`
both give `a-b-c`): the full routing name is kept in an annotation, and `--apply` refuses to
take over an object that carries another routing name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .errors import InvalidRoutingName

_PART = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
MAX_ROUTING_NAME = 253
MAX_NAME = 63  # DNS-1123 / DNS-1035 label
HASH_CHARS = 6

LABEL_PREFIX = "pais.dev"
MANAGED_BY = "app.kubernetes.io/managed-by"
INSTANCE = "app.kubernetes.io/instance"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
ENGINE_LABEL = f"{LABEL_PREFIX}/engine"
REVISION_LABEL = f"{LABEL_PREFIX}/revision"  # short form: sha256-<12 hex>
ROUTING_ANNOTATION = f"{LABEL_PREFIX}/routing-name"
MODEL_ANNOTATION = f"{LABEL_PREFIX}/model"
STORE_ANNOTATION = f"{LABEL_PREFIX}/model-store"
DIGEST_ANNOTATION = f"{LABEL_PREFIX}/revision"  # the full digest
TAG_ANNOTATION = f"{LABEL_PREFIX}/tag"
SOURCE_ANNOTATION = f"{LABEL_PREFIX}/source"  # gallery revision or NGC model
PLACEMENT_ANNOTATION = f"{LABEL_PREFIX}/placement"
PREVIOUS_ANNOTATION = f"{LABEL_PREFIX}/previous-revision"  # the digest served before: the rollback target
VALIDATION_ANNOTATION = f"{LABEL_PREFIX}/validation"  # set when deployed with --no-require-validated
CACHE_LABEL = f"{LABEL_PREFIX}/cache"  # an NGC NIMCache's own name, to select the old ones
MANAGER = "pais"


@dataclass(frozen=True)
class RoutingName:
    provider: str
    model_id: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.model_id}"


def parse_routing_name(value: str) -> RoutingName:
    provider, sep, model_id = value.partition("/")
    if (not sep or "/" in model_id or len(value) > MAX_ROUTING_NAME
            or not _PART.match(provider) or not _PART.match(model_id)):
        raise InvalidRoutingName(
            f"invalid routing name {value!r}",
            "write provider/model_id, each part lowercase letters, digits, '.', '-' and '_', "
            "starting with a letter or digit, e.g. openai/gpt-oss-20b or baai/bge-small-en-v1.5",
        )
    return RoutingName(provider, model_id)


def _base(routing: RoutingName) -> str:
    base = re.sub(r"[^a-z0-9-]", "-", f"{routing.provider}-{routing.model_id}".lower())
    base = re.sub(r"-{2,}", "-", base).strip("-")
    return f"ep-{base}" if base[:1].isdigit() else base


def object_name(routing: RoutingName, suffix: str = "") -> str:
    """The Kubernetes name for the endpoint (or one of its derived objects, with `suffix`)."""
    base = _base(routing)
    if len(base) + len(suffix) <= MAX_NAME:
        return base + suffix
    digest = hashlib.sha256(str(routing).encode()).hexdigest()[:HASH_CHARS]
    keep = MAX_NAME - len(suffix) - HASH_CHARS - 1
    return f"{base[:keep].rstrip('-')}-{digest}{suffix}"


def short_digest(digest: str) -> str:
    """A label-safe short form of a revision digest: sha256-<12 hex>."""
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}-{hex_part[:12]}"
