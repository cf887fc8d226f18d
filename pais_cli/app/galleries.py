"""Which gallery a command means: --modelStore, $PAIS_MODEL_STORE, a named gallery, or the default."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from .. import config
from ..config import FLAVORS, GallerySettings
from ..errors import ConfigError, InvalidReference, NotFound, PaisError
from ..gallery.network import NetworkPolicy
from ..gallery.reference import disk_path, is_on_disk, parse_registry
from ..gallery.stores.base import GalleryStore
from ..gallery.stores.layout import LayoutGallery
from ..gallery.stores.registry import RegistryGallery, TransportOptions
from .context import Context


@dataclass
class Gallery:
    store: GalleryStore
    settings: GallerySettings
    kind: Literal["disk", "registry"]
    name: str | None  # the config name, when it is a named gallery
    source: str  # how it was chosen, for the "using gallery ..." line
    network: NetworkPolicy = field(default_factory=NetworkPolicy)  # deadlines and retries of its transfers

    @property
    def description(self) -> str:
        label = f"{self.name} ({self.store.description})" if self.name else self.store.description
        return f"{label}, {self.source}"


def resolve_settings(ctx: Context, store: str | None) -> tuple[GallerySettings, str | None, str]:
    """(settings, config name, source) for the store option as given."""
    if store:
        value, source = store, "from --modelStore"
    elif ctx.model_store:
        value, source = ctx.model_store, f"from {ctx.model_store_source}"
    else:
        return GallerySettings(store=str(ctx.default_gallery)), None, "the embedded default gallery"
    if is_on_disk(value):
        return GallerySettings(store=str(disk_path(value))), None, source
    if config.is_gallery_name(value):
        named = config.named_galleries(ctx.config_file)
        if value in named:
            return named[value], value, f"named gallery in {ctx.config_file}"
        known = ", ".join(sorted(named)) or "none yet"
        raise ConfigError(
            f"no gallery named {value!r} (named galleries: {known})",
            f"create it with `pais gallery init --modelStore HOST/PROJECT --name {value}`, "
            "or write a registry as HOST[:PORT]/PROJECT or a directory as ./path",
        )
    parse_registry(value)  # raises with both spellings when it is neither
    return GallerySettings(store=value), None, source


def open_gallery(
    ctx: Context,
    store: str | None,
    *,
    ca_file: str | Path | None = None,
    plain_http: bool = False,
    flavor: str | None = None,
    network: NetworkPolicy | None = None,
) -> Gallery:
    settings, name, source = resolve_settings(ctx, store)
    network = network or NetworkPolicy()
    if ca_file:
        settings = replace(settings, ca_file=str(ca_file))
    if plain_http:
        settings = replace(settings, plain_http=True)
    if is_on_disk(settings.store):
        layout = LayoutGallery(disk_path(settings.store))
        on_disk = layout.settings()
        for key in ("flavor", "require_validated", "require_smoke", "production"):
            if key in on_disk and name is None:
                settings = replace(settings, **{key: on_disk[key]})
        result = Gallery(layout, settings, "disk", name, source, network)
    else:
        location = parse_registry(settings.store)
        options = TransportOptions(ca_file=settings.ca_file, plain_http=settings.plain_http, network=network,
                                   credentials=ctx.credentials, upload_sessions=ctx.upload_sessions, proxies=ctx.proxies)
        result = Gallery(RegistryGallery(location, options), settings, "registry", name, source, network)
    if flavor:
        if flavor not in FLAVORS:
            raise InvalidReference(f"unknown flavor {flavor!r}", "use --flavor cncf (current ModelPack) or cnai (Harbor 2.13-2.15)")
        result.settings = replace(result.settings, flavor=flavor)
    return result


def named_galleries(ctx: Context) -> dict[str, GallerySettings]:
    """The galleries saved with `gallery init --name`, in the order the config file lists them."""
    return config.named_galleries(ctx.config_file)


def remove_named_gallery(ctx: Context, name: str) -> GallerySettings:
    """Forget a named gallery; what is stored in it stays where it is."""
    removed = config.remove_gallery(ctx.config_file, name)
    if removed is None:
        known = sorted(config.named_galleries(ctx.config_file))
        close = difflib.get_close_matches(name, known, n=3)
        raise NotFound(f"no gallery named {name!r} in {ctx.config_file}"
                       + (f"; did you mean {', '.join(close)}?" if close else ""),
                       "`pais gallery list` shows the named galleries")
    return removed


def cheap_models(ctx: Context, store: str | None) -> list[str]:
    """Model names for shell completion: on-disk galleries only (a registry costs a round trip)."""
    try:
        settings, _, _ = resolve_settings(ctx, store)
        if not is_on_disk(settings.store):
            return []
        return LayoutGallery(disk_path(settings.store)).models()
    except (PaisError, OSError):
        return []


def cheap_tags(ctx: Context, store: str | None, model: str) -> list[str]:
    """Tags of one model for shell completion, on-disk galleries only."""
    try:
        settings, _, _ = resolve_settings(ctx, store)
        if not is_on_disk(settings.store):
            return []
        return LayoutGallery(disk_path(settings.store)).repository(model).tags()
    except (PaisError, OSError):
        return []
