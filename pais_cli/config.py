"""The user's config file: named galleries (`dev`, `prod`) and their settings.

`~/.config/pais/config.toml` on Linux (the platform's equivalent elsewhere), or $PAIS_CONFIG.

    [galleries.dev]
    store = "harbor.example.com/dev-models"
    flavor = "cnai"
    require_validated = false
    production = false
    ca_file = "/etc/pki/harbor-ca.pem"
"""

from __future__ import annotations

import os
import tomllib
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tomli_w
from platformdirs import user_config_dir, user_data_dir

from .errors import ConfigError
from .gallery.mediatypes import FLAVORS

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


def config_path() -> Path:
    return Path(os.environ.get("PAIS_CONFIG") or Path(user_config_dir("pais")) / "config.toml")


def default_gallery_path() -> Path:
    """The embedded default gallery: used when no store is given anywhere."""
    return Path(os.environ.get("PAIS_DATA_DIR") or user_data_dir("pais")) / "gallery"


@dataclass
class GallerySettings:
    store: str
    flavor: str = "cncf"
    require_validated: bool = False
    require_smoke: bool = False
    production: bool = False
    ca_file: str | None = None
    plain_http: bool = False

    def to_toml(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def is_gallery_name(value: str) -> bool:
    return bool(value) and set(value) <= _NAME_CHARS and value[0].isalnum()


def load() -> dict[str, Any]:
    path = config_path()
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", "fix or remove the file; `pais gallery init --name` rewrites entries") from None


def named_galleries() -> dict[str, GallerySettings]:
    out: dict[str, GallerySettings] = {}
    for name, entry in (load().get("galleries") or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("store"), str):
            raise ConfigError(f"gallery {name!r} in {config_path()} has no store", "add store = \"HOST/PROJECT\" or a path")
        flavor = entry.get("flavor", "cncf")
        if flavor not in FLAVORS:
            raise ConfigError(f"gallery {name!r} has unknown flavor {flavor!r}", "use flavor = \"cncf\" or \"cnai\"")
        known = {k: entry[k] for k in GallerySettings.__dataclass_fields__ if k in entry}
        out[name] = GallerySettings(**known)
    return out


def save_gallery(name: str, settings: GallerySettings) -> bool:
    """Write one named gallery; False when the file already said exactly this."""
    data = load()
    galleries = data.setdefault("galleries", {})
    entry = settings.to_toml()
    if galleries.get(name) == entry:
        return False
    galleries[name] = entry
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_bytes(tomli_w.dumps(data).encode())
    os.replace(tmp, path)
    return True
