"""Registry credentials and the two auth schemes registries use: Basic and Bearer tokens.

Credentials come from an explicit username and password (the CLI takes them from
PAIS_REGISTRY_USERNAME/PAIS_REGISTRY_PASSWORD, for CI) or from Docker's config after
`docker login` (auths, credHelpers, credsStore); `CredentialSources` says where to look. Secrets never leave this module
except in Authorization headers: no repr, no log line, no error message carries them.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from ..errors import AuthenticationError, RegistryUnreachable


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str = "environment"
    identity_token: bool = False  # Docker's identitytoken: an OAuth2 refresh token for the realm

    def basic_header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


@dataclass(frozen=True)
class CredentialSources:
    """Where credentials may come from, in order: an explicit pair, then Docker's config file."""

    docker_config: Path | None = None  # Docker's config.json; None: no file is read
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    pair_source: str = "PAIS_REGISTRY_USERNAME/PAIS_REGISTRY_PASSWORD"  # how to name the pair in messages


def _host_keys(host: str) -> list[str]:
    keys = [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]
    if host in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        keys.append("https://index.docker.io/v1/")
    return keys


def _helper_program(helper: str, config: Path | None) -> str:
    """The helper Docker's config names; one that is missing is an error, never skipped in silence
    (the user logged in through it and would be sent anonymous)."""
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        where = f"Docker's config {config}" if config else "Docker's config"
        raise AuthenticationError(
            f"{where} names the credential helper docker-credential-{helper}, which is not on PATH",
            f"install docker-credential-{helper}, or remove it (credsStore, credHelpers) from that file")
    return program


def _from_helper(helper: str, host: str, config: Path | None = None) -> Credentials | None:
    program = _helper_program(helper, config)
    for key in (host, f"https://{host}"):
        try:
            done = subprocess.run([program, "get"], input=key.encode(), capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode == 0:
            try:
                obj = json.loads(done.stdout)
                user, secret = obj["Username"], obj["Secret"]
            except (ValueError, KeyError, TypeError):
                return None
            if user == "<token>":
                return Credentials(user, secret, f"docker-credential-{helper}", identity_token=True)
            return Credentials(user, secret, f"docker-credential-{helper}")
    return None


def find_credentials(host: str, sources: CredentialSources) -> Credentials | None:
    if sources.username and sources.password:
        return Credentials(sources.username, sources.password, sources.pair_source)
    path = sources.docker_config
    if path is None:
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    for key in _host_keys(host):
        helper = (config.get("credHelpers") or {}).get(key)
        if helper:
            return _from_helper(helper, host, path)
    auths = config.get("auths") or {}
    for key in _host_keys(host):
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("identitytoken"):
            return Credentials("<token>", entry["identitytoken"], str(path), identity_token=True)
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            return Credentials(user, password, str(path))
        if entry.get("username") and entry.get("password"):
            return Credentials(entry["username"], entry["password"], str(path))
    if config.get("credsStore"):
        return _from_helper(config["credsStore"], host, path)
    return None


def _read_docker_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise AuthenticationError(f"cannot read Docker's config {path}: {exc}", "fix or move that file, then log in again") from exc
    if not isinstance(config, dict):
        raise AuthenticationError(f"Docker's config {path} is not a JSON object", "fix or move that file, then log in again")
    return config


def _write_docker_config(path: Path, config: dict[str, Any]) -> None:
    # Owner-only from the first byte, renamed into place: the file holds secrets.
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(config, indent="\t") + "\n")
    os.replace(tmp, path)


def _helper_for(config: dict[str, Any], host: str) -> str | None:
    for key in _host_keys(host):
        helper = (config.get("credHelpers") or {}).get(key)
        if helper:
            return str(helper)
    store = config.get("credsStore")
    return str(store) if store else None


def _run_helper(program: str, action: str, data: bytes, helper: str) -> None:
    try:
        done = subprocess.run([program, action], input=data, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AuthenticationError(f"docker-credential-{helper} {action} failed: {type(exc).__name__}",
                                  f"check that docker-credential-{helper} works: echo HOST | docker-credential-{helper} get") from exc
    if done.returncode != 0 and not (action == "erase" and b"not found" in done.stdout.lower() + done.stderr.lower()):
        # The helper's own words, never the input (it holds the secret).
        said = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()[:1]
        raise AuthenticationError(f"docker-credential-{helper} {action} failed" + (f": {said[0][:200]}" if said else ""),
                                  f"check that docker-credential-{helper} works, or remove it from Docker's config")


def store_login(path: Path, host: str, username: str, password: str) -> str:
    """Save a login the way `docker login` does: through the credential helper Docker's config
    names for this host (credHelpers, else credsStore), else base64 in `auths`. Says where."""
    config = _read_docker_config(path)
    helper = _helper_for(config, host)
    if helper:
        program = _helper_program(helper, path)
        _run_helper(program, "store", json.dumps({"ServerURL": host, "Username": username, "Secret": password}).encode(), helper)
        return f"docker-credential-{helper}"
    auths = config.setdefault("auths", {})
    for key in _host_keys(host)[1:]:
        auths.pop(key, None)  # one entry per host, as docker writes it
    auths[host] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    _write_docker_config(path, config)
    return str(path)


def erase_login(path: Path, host: str) -> list[str]:
    """Forget a host's login in `auths` and in its credential helper; where it was removed from."""
    config = _read_docker_config(path)
    removed: list[str] = []
    helper = _helper_for(config, host)
    if helper:
        _run_helper(_helper_program(helper, path), "erase", host.encode(), helper)
        removed.append(f"docker-credential-{helper}")
    auths = config.get("auths") or {}
    keys = [k for k in _host_keys(host) if k in auths]
    for key in keys:
        del auths[key]
    if keys:
        _write_docker_config(path, config)
        removed.append(str(path))
    return removed


_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(rest)}


_REPO_PATH = re.compile(r"^/v2/(.+?)/(blobs|manifests|tags|referrers)/")


def scopes_for(method: str, url: str) -> tuple[str, ...]:
    """The token scopes a request needs, derived from its path and method."""
    parts = urlsplit(url)
    path = parts.path
    if path.startswith("/v2/_catalog"):
        return ("registry:catalog:*",)
    match = _REPO_PATH.match(path)
    if not match:
        return ()
    actions = "pull" if method in ("GET", "HEAD") else "pull,push"
    if method == "DELETE":
        actions = "delete"
    scopes = [f"repository:{match.group(1)}:{actions}"]
    source = parse_qs(parts.query).get("from")
    if source:
        scopes.append(f"repository:{source[0]}:pull")
    return tuple(scopes)


@dataclass
class AuthLearnt:
    """What one registry's challenges taught: shared by its clients (a push's quick preflight and
    its transfer), so the scheme of auth is learnt and a token fetched once."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    basic: bool = False
    bearer: dict[str, str] | None = None  # the challenge's realm, service and scope
    tokens: dict[tuple[str, ...], tuple[str, float]] = field(default_factory=dict)  # scopes -> (header, expiry)
    fetch_locks: dict[tuple[str, ...], threading.Lock] = field(default_factory=dict)


class RegistryAuth(httpx.Auth):
    """Answers 401 challenges, then sends what it learnt up front.

    Pre-emptive headers matter: a streamed upload body cannot be sent twice, so the header for
    its scope must be known before the PUT (the POST that opens the upload learns it).
    """

    def __init__(self, credentials: Credentials | None, client_factory: Callable[[], httpx.Client], host: str,
                 learnt: AuthLearnt | None = None) -> None:
        self.credentials = credentials
        self._client_factory = client_factory
        self._host = host
        self.learnt = learnt or AuthLearnt()

    def _lookup(self, scopes: tuple[str, ...]) -> str | None:
        """A live token whose grants cover `scopes` (pull,push covers pull)."""
        now = time.monotonic()
        with self.learnt.lock:
            for key, (value, expiry) in self.learnt.tokens.items():
                if expiry > now and all(_covered(s, key) for s in scopes):
                    return value
        return None

    def _scope_lock(self, scopes: tuple[str, ...]) -> threading.Lock:
        with self.learnt.lock:
            return self.learnt.fetch_locks.setdefault(scopes, threading.Lock())

    def header_for(self, scopes: tuple[str, ...]) -> str | None:
        """The Authorization header already learnt for these scopes (a token is fetched once per scope)."""
        if self.learnt.basic and self.credentials:
            return self.credentials.basic_header()
        if self.learnt.bearer is None or not scopes:
            return self._lookup(scopes) if scopes else None
        # One fetch per scope at a time: parallel uploads wait for the first one's token.
        with self._scope_lock(scopes):
            return self._lookup(scopes) or self._fetch_token(self.learnt.bearer, scopes)

    def answer_challenge(self, challenge: str, scopes: tuple[str, ...], sent: str | None) -> str | None:
        """The Authorization header to send again after a 401 with `challenge`, having sent
        `sent`; None when there is nothing (new) to offer and the 401 stands."""
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self.credentials is None or sent:
                return None
            self.learnt.basic = True
            return self.credentials.basic_header()
        if scheme == "bearer" and params.get("realm"):
            self.learnt.bearer = params
            wanted = tuple(dict.fromkeys((*scopes, *([params["scope"]] if params.get("scope") else []))))
            with self._scope_lock(scopes):
                header = self._lookup(wanted)
                if header is None or header == sent:
                    header = self._fetch_token(params, wanted)
            return None if header == sent else header
        return None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        scopes = scopes_for(request.method, str(request.url))
        header = self.header_for(scopes)
        if header:
            request.headers["Authorization"] = header
        response = yield request
        if response.status_code != 401:
            return
        again = self.answer_challenge(response.headers.get("WWW-Authenticate", ""), scopes, header)
        if again is None:
            return  # the caller turns the 401 into an error
        request.headers["Authorization"] = again
        yield request

    def _fetch_token(self, params: dict[str, str], scopes: tuple[str, ...]) -> str:
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        query.extend(("scope", s) for s in scopes)
        realm = params["realm"]
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        headers = {}
        if self.credentials is not None and not self.credentials.identity_token:
            headers["Authorization"] = self.credentials.basic_header()
        try:
            with self._client_factory() as client:
                if self.credentials is not None and self.credentials.identity_token:
                    form = {"grant_type": "refresh_token", "refresh_token": self.credentials.password,
                            "service": params.get("service", ""), "scope": " ".join(scopes), "client_id": "pais"}
                    request = client.build_request("POST", realm, data=form)
                else:
                    request = client.build_request("GET", url, headers=headers)
                response = client.send(request, stream=True)
                try:
                    status, body = response.status_code, _read_token_answer(response, realm)
                finally:
                    response.close()
        except httpx.TransportError as exc:
            raise RegistryUnreachable(f"token service {realm} unreachable: {type(exc).__name__}",
                                      "check the registry's auth realm is reachable from here") from exc
        if status in (401, 403):
            raise AuthenticationError(
                f"{self._host} refused the credentials"
                + (f" from {self.credentials.source}" if self.credentials else " (none were found)"),
                f"run `pais login {self._host}` (or docker login {self._host}), or set PAIS_REGISTRY_USERNAME and PAIS_REGISTRY_PASSWORD",
            )
        if status != 200:
            raise AuthenticationError(f"token service {realm} answered HTTP {status}",
                                      "check the registry's auth configuration")
        try:
            answer = json.loads(body)
            token = answer.get("token") or answer.get("access_token")
            expires_in = int(answer.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            token = None
        if not token:
            raise AuthenticationError(f"token service {realm} sent no token", "check the registry's auth configuration")
        value = f"Bearer {token}"
        # Renew a little early so a token never expires mid-request.
        expiry = time.monotonic() + max(10, expires_in - 10)
        with self.learnt.lock:
            self.learnt.tokens[scopes] = (value, expiry)
        return value


MAX_TOKEN_ANSWER = 1024 * 1024


def _read_token_answer(response: httpx.Response, realm: str) -> bytes:
    """A token answer is a few KiB; a hostile token service cannot make pais read more than 1 MiB."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_TOKEN_ANSWER:
            raise AuthenticationError(f"token service {realm} sent more than 1 MiB", "check the registry's auth configuration")
    return bytes(body)


def _split_scope(scope: str) -> tuple[str, str, set[str]]:
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")  # names may hold ':' (host:port/repo), actions never
    return kind, name, set(actions.split(","))


def _covered(scope: str, granted: tuple[str, ...]) -> bool:
    kind, name, actions = _split_scope(scope)
    for g_kind, g_name, g_actions in map(_split_scope, granted):
        if (g_kind, g_name) == (kind, name) and ("*" in g_actions or actions <= g_actions):
            return True
    return False
