"""The one module that reads the environment (the import-linter contract names it).

Everything below the CLI takes these values as arguments. Third-party libraries keep their own
environment handling, documented in the README rather than wrapped: httpx's proxy variables
(HTTPS_PROXY, NO_PROXY, SSL_CERT_FILE; the proxies are read here too, see `proxies`),
huggingface_hub's HF_* (HF_TOKEN, HF_HUB_OFFLINE), platformdirs' XDG_* directories, and the
docker SDK's DOCKER_TLS_VERIFY/DOCKER_CERT_PATH.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a command runs, not for --help or completion
    from ..app.context import Context
    from ..gallery.auth import CredentialSources

MODEL_STORE = "PAIS_MODEL_STORE"
CLAMD = "PAIS_CLAMD"
CLAMD_CONF = "PAIS_CLAMD_CONF"
SANDBOX = "PAIS_SANDBOX"
DOCKER_HOST = "DOCKER_HOST"
GATEWAY_API_KEY = "PAIS_GATEWAY_API_KEY"
KUBECTL = "PAIS_KUBECTL"
HF_ENDPOINT = "HF_ENDPOINT"


def env(name: str) -> str | None:
    """A variable's value; unset and empty are the same."""
    return os.environ.get(name) or None


def config_file() -> Path:
    """$PAIS_CONFIG, else $XDG_CONFIG_HOME/pais/config.toml (by default ~/.config/pais/config.toml)."""
    from platformdirs import user_config_dir

    return Path(env("PAIS_CONFIG") or Path(user_config_dir("pais")) / "config.toml")


def cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(env("PAIS_CACHE_DIR") or user_cache_dir("pais"))


def data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(env("PAIS_DATA_DIR") or user_data_dir("pais"))


def docker_config() -> Path:
    """Docker's config.json: $DOCKER_CONFIG/config.json, else ~/.docker/config.json."""
    return Path(env("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"


def credentials() -> CredentialSources:
    from ..gallery.auth import CredentialSources

    return CredentialSources(
        docker_config=docker_config(),
        username=env("PAIS_REGISTRY_USERNAME"),
        password=env("PAIS_REGISTRY_PASSWORD"),
    )


def context() -> Context:
    from ..app.context import Context

    return Context(
        config_file=config_file(),
        default_gallery=data_dir() / "gallery",
        digest_cache=cache_dir() / "digests.sqlite",
        result_cache=cache_dir() / "results.sqlite",
        upload_sessions=cache_dir() / "uploads.json",
        model_store=env(MODEL_STORE),
        model_store_source=f"${MODEL_STORE}",
        credentials=credentials(),
        proxies=proxies(),
    )


def proxies() -> dict[str, str]:
    """HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (either case), which httpx honours: the
    registry client needs them to know when its plain http.client path must give way to httpx."""
    import urllib.request

    return urllib.request.getproxies_environment()


def kubectl() -> str:
    return env(KUBECTL) or "kubectl"


def hf_endpoint() -> str | None:
    return env(HF_ENDPOINT)


def gateway_api_key() -> str | None:
    return env(GATEWAY_API_KEY)
