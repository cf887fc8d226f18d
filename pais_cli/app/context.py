"""Where a command's state lives on this machine, given by the caller (the CLI reads it from the
environment in `pais_cli.cli.settings`); no library default reads the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..gallery.auth import CredentialSources
from ..modeldir.digests import DigestCache
from ..validation.resultcache import ResultCache


@dataclass(frozen=True)
class Context:
    config_file: Path  # named galleries
    default_gallery: Path  # the embedded default gallery, used when no store is given anywhere
    digest_cache: Path | None = None  # None: digests are remembered for this process only
    result_cache: Path | None = None  # check results by content; None: this process only
    upload_sessions: Path | None = None  # open uploads remembered for the next push; None: this process only
    model_store: str | None = None  # the gallery when --modelStore is not given ($PAIS_MODEL_STORE)
    model_store_source: str = "$PAIS_MODEL_STORE"  # how to name it in messages
    credentials: CredentialSources = field(default_factory=CredentialSources)
    proxies: dict[str, str] = field(default_factory=dict)  # the proxy variables, as urllib reads them ({"https": URL, "no": ...})

    def digests(self) -> DigestCache:
        return DigestCache(self.digest_cache)

    def results(self) -> ResultCache:
        return ResultCache(self.result_cache)
