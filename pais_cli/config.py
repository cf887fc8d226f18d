"""The user's config file: named galleries (`dev`, `prod`) and their settings.

Where the file is, the caller says (the CLI: $PAIS_CONFIG, else the platform's config
directory: `$XDG_CONFIG_HOME/pais/config.toml`, by default `~/.config/pais/config.toml` on Linux).

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
from typing import Any, Literal

import tomli_w

from .errors import ConfigError

# The media type names a gallery writes: `cncf` (current ModelPack) or `cnai` (the legacy names
# released Harbor 2.13-2.15 needs for its model view). A setting, so it lives with the settings.
Flavor = Literal["cncf", "cnai"]
FLAVORS: tuple[Flavor, ...] = ("cncf", "cnai")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


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


def load(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", "fix or remove the file; `pais gallery init --name` rewrites entries") from exc


def named_galleries(path: Path) -> dict[str, GallerySettings]:
    out: dict[str, GallerySettings] = {}
    for name, entry in (load(path).get("galleries") or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("store"), str):
            raise ConfigError(f"gallery {name!r} in {path} has no store", "add store = \"HOST/PROJECT\" or a path")
        flavor = entry.get("flavor", "cncf")
        if flavor not in FLAVORS:
            raise ConfigError(f"gallery {name!r} has unknown flavor {flavor!r}", "use flavor = \"cncf\" or \"cnai\"")
        known = {k: entry[k] for k in GallerySettings.__dataclass_fields__ if k in entry}
        out[name] = GallerySettings(**known)
    return out


SaveOutcome = Literal["created", "updated", "unchanged"]


def save_gallery(path: Path, name: str, settings: GallerySettings) -> SaveOutcome:
    """Write one named gallery and say what that did to the file."""
    data = load(path)
    galleries = data.setdefault("galleries", {})
    entry = settings.to_toml()
    if galleries.get(name) == entry:
        return "unchanged"
    outcome: SaveOutcome = "updated" if name in galleries else "created"
    galleries[name] = entry
    _write(path, data)
    return outcome


def remove_gallery(path: Path, name: str) -> GallerySettings | None:
    """Drop one named gallery from the file; None when there was none of that name."""
    known = named_galleries(path)
    if name not in known:
        return None
    data = load(path)
    del data["galleries"][name]
    _write(path, data)
    return known[name]


def _write(path: Path, data: dict[str, Any]) -> None:
    # Write beside and rename: a crash never leaves half a config file.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_bytes(tomli_w.dumps(data).encode())
    os.replace(tmp, path)
