"""A command's model, gallery and revision, from a reference as typed and the vcf flags."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from ..gallery.reference import RevisionRef, parse_model_reference


@dataclass(frozen=True)
class Target:
    model: str
    store: str | None  # None: the default gallery ($PAIS_MODEL_STORE, else the embedded one)
    ref: RevisionRef | None  # None when the command needs no revision
    tags: tuple[str, ...] = ()  # every tag given, for push


def _twice(what: str, typed: str, flag: str) -> UsageError:
    return UsageError(f"the {what} is given twice: in {typed!r} and in {flag}", f"give it once: drop {flag}, or drop it from the name")


def resolve_target(model: str, store: str | None = None, tag: str | None = None, digest: str | None = None,
                   *, revision: bool = True) -> Target:
    """MODEL[:TAG|@DIGEST] or HOST[:PORT]/PROJECT/MODEL:TAG, with --modelStore, --tag and --digest.

    A tag or gallery given both ways is a usage error rather than a guess about which one wins."""
    typed = parse_model_reference(model)
    if typed.store and store:
        raise _twice("gallery", model, "--modelStore")
    if typed.tag and tag:
        raise _twice("tag", model, "--tag")
    if typed.digest and digest:
        raise _twice("digest", model, "--digest")
    tag, digest = typed.tag or tag, typed.digest or digest
    ref = RevisionRef.from_options(tag, digest) if revision or tag or digest else None
    return Target(typed.model, typed.store or store, ref, (tag,) if tag else ())


def resolve_push_target(model: str, store: str | None, tags: list[str]) -> Target:
    typed = parse_model_reference(model)
    if typed.store and store:
        raise _twice("gallery", model, "--modelStore")
    if typed.tag and tags:
        raise _twice("tag", model, "--tag")
    if typed.digest:
        raise UsageError(f"a push cannot name its digest ({model!r}): the content decides it", "give a tag: NAME:TAG or --tag TAG")
    return Target(typed.model, typed.store or store, None, (typed.tag,) if typed.tag else tuple(tags))
