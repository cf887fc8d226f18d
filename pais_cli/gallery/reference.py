"""Names and references: model names, tags, digests and gallery (store) locations.

The rules are the OCI distribution spec's, so that whatever `pais` accepts a registry accepts
too, and the store rules are Docker's, so that `HOST/PROJECT` means what `docker push` means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidReference

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_MODEL_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
# Tags that the referrers tag schema reserves; never a model revision's tag.
REFERRERS_TAG = re.compile(r"^sha256-[a-f0-9]{64}$")

ON_DISK_PREFIXES = ("/", "./", "../", "~", "oci:")


def check_model_name(name: str) -> str:
    if not name or len(name) > 255 or not _MODEL_NAME.match(name):
        raise InvalidReference(
            f"invalid model name {name!r}",
            "use lowercase letters, digits and separators (. _ -), with / between parts, "
            "e.g. baai/bge-small-en-v1.5",
        )
    return name


def check_tag(tag: str) -> str:
    if not _TAG.match(tag):
        raise InvalidReference(
            f"invalid tag {tag!r}",
            "a tag is 1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'",
        )
    if REFERRERS_TAG.match(tag):
        raise InvalidReference(
            f"tag {tag!r} is reserved for the referrers tag schema",
            "choose another tag, e.g. approved or v1",
        )
    return tag


def check_digest(digest: str) -> str:
    if not _DIGEST.match(digest):
        raise InvalidReference(
            f"invalid digest {digest!r}",
            "a digest is sha256: followed by 64 lowercase hex characters",
        )
    return digest


@dataclass(frozen=True)
class RevisionRef:
    """A revision asked for by tag or by digest; never neither."""

    tag: str | None = None
    digest: str | None = None

    @classmethod
    def from_options(cls, tag: str | None, digest: str | None) -> RevisionRef:
        if tag and digest:
            raise InvalidReference(
                "give either --tag or --digest, not both",
                "a digest already names one revision; drop --tag",
            )
        if not tag and not digest:
            raise InvalidReference(
                "no revision given: there is no implicit 'latest'",
                "name the revision: MODEL:TAG, MODEL@sha256:..., or --tag TAG or --digest sha256:...",
            )
        if tag:
            return cls(tag=check_tag(tag))
        return cls(digest=check_digest(digest or ""))

    @property
    def reference(self) -> str:
        return self.digest or self.tag or ""

    def __str__(self) -> str:
        return f"@{self.digest}" if self.digest else f":{self.tag}"


def is_on_disk(store: str) -> bool:
    return store.startswith(ON_DISK_PREFIXES)


def disk_path(store: str) -> Path:
    raw = store[len("oci:"):] if store.startswith("oci:") else store
    if not raw:
        raise InvalidReference("empty gallery path after 'oci:'", "write oci:/path/to/gallery")
    return Path(raw).expanduser().resolve()


def _is_host(part: str) -> bool:
    # Docker's rule: the first path component is a registry host when it looks like one.
    return "." in part or ":" in part or part == "localhost"


@dataclass(frozen=True)
class RegistryLocation:
    host: str  # host[:port], as written
    namespace: str  # project or namespace path inside the registry

    def repository(self, model: str) -> str:
        return f"{self.namespace}/{model}"

    def __str__(self) -> str:
        return f"{self.host}/{self.namespace}"


def parse_registry(store: str) -> RegistryLocation:
    scheme, sep, rest = store.partition("://")
    if sep and scheme.lower() in ("http", "https", "oci"):
        raise InvalidReference(f"a gallery is written without a scheme: {scheme}:// in {rest.rpartition('@')[2]!r}",
                               f"write {rest.rpartition('@')[2]}" + (" and add --plain-http" if scheme.lower() == "http" else ""))
    host, _, namespace = store.partition("/")
    if "@" in host:
        # Never echo what was typed: it holds a password more often than not.
        raise InvalidReference(f"the gallery {host.rpartition('@')[2]}/{namespace} was given with credentials in it",
                               "drop the user:password@ part and log in with `pais login HOST` or `docker login HOST` (or "
                               "PAIS_REGISTRY_USERNAME/PAIS_REGISTRY_PASSWORD)")
    port = host.rpartition("]")[2].rpartition(":")[2] if ":" in host.rpartition("]")[2] else ""
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise InvalidReference(f"port {port!r} of {host!r} is not a TCP port", "a port is a number from 1 to 65535")
    if not _is_host(host) or not namespace:
        raise InvalidReference(
            f"cannot tell what kind of gallery {store!r} is",
            "write a registry as HOST[:PORT]/PROJECT (e.g. harbor.example.com/models) "
            "or a directory as a path (e.g. ./gallery, /srv/gallery or oci:gallery)",
        )
    namespace = namespace.strip("/")
    if not _MODEL_NAME.match(namespace):
        raise InvalidReference(
            f"invalid project {namespace!r} in {store!r}",
            "a project is lowercase letters, digits and separators (. _ -), e.g. models",
        )
    return RegistryLocation(host=host.lower(), namespace=namespace)


@dataclass(frozen=True)
class ModelReference:
    """A model as users type it: NAME, NAME:TAG, NAME@DIGEST, or HOST[:PORT]/PROJECT/NAME:TAG.

    With a host (Docker's rule: the first part has a '.' or ':' or is localhost), the first part
    after it is the project (Harbor's rule) and the rest is the model, so the gallery is
    HOST[:PORT]/PROJECT. Nothing is checked against a registry here."""

    model: str
    store: str | None = None
    tag: str | None = None
    digest: str | None = None


def parse_model_reference(text: str) -> ModelReference:
    name, at, digest = text.partition("@")
    tag: str | None = None
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not tag:
            raise InvalidReference(f"empty tag after ':' in {text!r}", "write NAME:TAG, e.g. baai/bge-small-en-v1.5:approved")
    store: str | None = None
    first, sep, rest = name.partition("/")
    if sep and _is_host(first):
        project, sep, model = rest.partition("/")
        if not sep or not project or not model:
            raise InvalidReference(
                f"{text!r} names a registry but no model",
                "write HOST[:PORT]/PROJECT/MODEL:TAG: the first part after the host is the project, the rest the model")
        store, name = f"{first}/{project}", model
        parse_registry(store)
    check_model_name(name)
    if tag is not None:
        check_tag(tag)
    if at:
        check_digest(digest)
    return ModelReference(model=name, store=store, tag=tag, digest=digest if at else None)
