"""`pais login` / `pais logout`: a registry's credentials, checked, then kept where Docker keeps
them (its config's auths, or the credential helper it names) so docker, oras and skopeo share them."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AuthenticationError, UsageError
from ..gallery.auth import Credentials, erase_login, store_login
from ..gallery.network import NetworkPolicy
from ..gallery.reference import parse_registry
from ..gallery.stores.registry import RegistryClient, TransportOptions
from .context import Context


@dataclass
class LoginResult:
    host: str
    username: str
    stored_in: str  # the config file, or docker-credential-<helper>
    scheme: str

    def to_json(self) -> dict[str, str]:
        return {"host": self.host, "username": self.username, "stored_in": self.stored_in, "scheme": self.scheme}


def registry_host(text: str) -> str:
    """HOST[:PORT] from what a user types after `login`: a host, a URL, or HOST/PROJECT."""
    scheme, sep, rest = text.partition("://")
    host = (rest if sep and scheme.lower() in ("http", "https") else text).split("/", 1)[0]
    if not host or "@" in host:
        raise UsageError(f"{text.rpartition('@')[2]!r} is not a registry host", "give HOST[:PORT], e.g. harbor.example.com")
    return parse_registry(f"{host}/x").host


def login(ctx: Context, host: str, username: str, password: str, *, ca_file: str | None = None,
          plain_http: bool = False, network: NetworkPolicy | None = None) -> LoginResult:
    """Check the credentials against the registry (as `docker login` does), then store them."""
    host = registry_host(host)
    if not username or not password:
        raise UsageError("a login needs a user name and a password", "give --username and --password-stdin")
    options = TransportOptions(ca_file=ca_file, plain_http=plain_http, network=network or NetworkPolicy(), proxies=ctx.proxies)
    client = RegistryClient(host, options, Credentials(username, password, "the login given"))
    try:
        client.request("GET", "/v2/", ok=(200,))
        scheme = "https" if client.tls else "http"
    except AuthenticationError as exc:
        raise AuthenticationError(f"{host} refused the user name and password for {username}",
                                  "check them (a Harbor robot account's name starts with robot$); nothing was stored") from exc
    finally:
        client.close()
    if ctx.credentials.docker_config is None:
        raise UsageError("no Docker config file to write", "set DOCKER_CONFIG to a directory")
    where = store_login(ctx.credentials.docker_config, host, username, password)
    return LoginResult(host, username, where, scheme)


def logout(ctx: Context, host: str) -> tuple[str, list[str]]:
    """(host, where its credentials were removed from); nothing removed is not an error."""
    host = registry_host(host)
    if ctx.credentials.docker_config is None:
        return host, []
    return host, erase_login(ctx.credentials.docker_config, host)
