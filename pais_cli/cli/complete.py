"""Shell completion values: named galleries from the config file, models and tags from on-disk
galleries (a registry would cost a round trip per keystroke, so it completes nothing)."""

from __future__ import annotations

from typing import Any

from . import settings


def galleries(incomplete: str) -> list[tuple[str, str]]:
    from ..app.galleries import named_galleries

    try:
        named = named_galleries(settings.context())
    except Exception:  # noqa: BLE001 - a broken config file must not break the shell
        return []
    return [(name, g.store) for name, g in named.items() if name.startswith(incomplete)]


def _store(ctx: Any) -> str | None:
    params = getattr(ctx, "params", {}) or {}
    return params.get("model_store") or params.get("source")


def models(ctx: Any, incomplete: str) -> list[str]:
    from ..app.galleries import cheap_models, cheap_tags

    name, colon, tag = incomplete.partition(":")
    if colon:  # MODEL:TAG: complete the tag of that model
        return [f"{name}:{t}" for t in cheap_tags(settings.context(), _store(ctx), name) if t.startswith(tag)]
    return [m for m in cheap_models(settings.context(), _store(ctx)) if m.startswith(incomplete)]


def tags(ctx: Any, incomplete: str) -> list[str]:
    from ..app.galleries import cheap_tags

    params = getattr(ctx, "params", {}) or {}
    model = params.get("model_name") or params.get("reference")
    if not model:
        return []
    return [t for t in cheap_tags(settings.context(), _store(ctx), model.partition(":")[0]) if t.startswith(incomplete)]
