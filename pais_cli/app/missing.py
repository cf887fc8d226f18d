"""Not found, said precisely: is the model missing, or only its tag or revision? And what is close."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import NotFound, PaisError
from ..gallery.reference import RevisionRef
from .galleries import Gallery


def _close(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else ""


def no_such_model(gallery: Gallery, model: str, models: list[str]) -> NotFound:
    """`model` is not among the gallery's `models`: say so, with the close names."""
    listing = f"pais models list --modelStore {gallery.name or gallery.settings.store}"
    return NotFound(f"there is no model {model} in {gallery.store.description}{_close(model, models)}",
                    f"`{listing}` shows the models there")


def explain_missing(gallery: Gallery, model: str, ref: RevisionRef) -> NotFound:
    where = gallery.store.description
    listing = f"pais models list --modelStore {gallery.name or gallery.settings.store}"
    try:
        models = gallery.store.models()
    except PaisError:
        models = []
    if models and model not in models:
        return no_such_model(gallery, model, models)
    try:
        tags = gallery.store.repository(model).tags()
    except PaisError:
        tags = []
    if not models and not tags:
        return NotFound(f"there is no model {model} in {where}", f"`{listing}` shows the models there")
    if ref.tag:
        shown = ", ".join(tags[:8]) + (" ..." if len(tags) > 8 else "") if tags else "none"
        return NotFound(f"model {model} has no tag {ref.tag} in {where} (its tags: {shown}){_close(ref.tag, tags)}",
                        f"`{listing} --modelName {model}` shows its revisions")
    return NotFound(f"model {model} has no revision {ref.digest} in {where}",
                    f"`{listing} --modelName {model}` shows its revisions and their digests")


@contextmanager
def explained(gallery: Gallery, model: str, ref: RevisionRef) -> Iterator[None]:
    """Turn the store's bare not-found for a revision into one that says which part is missing."""
    try:
        yield
    except NotFound as exc:
        raise explain_missing(gallery, model, ref) from exc
