"""OCI distribution API over httpx: the whole registry protocol pais speaks lives here.

Why not oras-py: it reads whole blobs into memory for monolithic uploads, cannot set
`artifactType` or push an index, and retries for minutes. Here: streamed monolithic PUTs with
a known Content-Length, streamed GETs with Range for resumption, bounded retries, and auth that
is sent up front once learnt (see auth.py).
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from ... import __version__
from ...errors import (
    TagConflict,
    TransientError,
    AuthenticationError,
    DigestMismatch,
    RegistryStalled,
    RegistryUnavailable,
    UsageError,
    NotFound,
    PermissionDenied,
    RegistryError,
    RegistryNotFound,
    RegistryUnreachable,
    TLSError,
    TransferIncomplete,
)
from ..auth import (
    Credentials,
    CredentialSources,
    RegistryAuth,
    find_credentials,
    scopes_for,
)
from ..mediatypes import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST
from ..oci import Descriptor, Manifest, sha256_digest
from ..reference import REFERRERS_TAG, RegistryLocation
from ..tls import trust_context
from ...units import format_size
from ..network import NetworkPolicy
from .base import CHUNK_GRACE_S, ChunkStream, GarbageReport, Progress, Revision, Source, StoreCheck, Stopped, no_progress
from .sessions import UploadSession, UploadSessions

if TYPE_CHECKING:
    from ..harbor import HarborProject

ACCEPT_MANIFESTS = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST))
DOWNLOAD_CHUNK = 1024 * 1024
MAX_ANSWER = 4 * 1024 * 1024  # manifests, indexes, tag lists: OCI caps a manifest at 4 MiB
MAX_ERROR_BODY = 64 * 1024


def _host_port(host: str, scheme: str) -> tuple[str, int]:
    parts = urlsplit(f"{scheme}://{host}")
    return parts.hostname or host, parts.port or (443 if scheme == "https" else 80)


def _bypasses_proxy(host: str, no_proxy: str) -> bool:
    """Whether NO_PROXY surely exempts `host` (HOST[:PORT]) from httpx's proxy: `*`, the host
    itself, or a domain it ends with. Anything less certain (CIDR ranges, say) counts as
    proxied: httpx's path is then taken, slower but never around the proxy."""
    name = _host_port(host, "https")[0].lower()
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        entry = entry.rpartition("://")[2].rstrip("/")
        if entry == "*" or entry in (name, host.lower()):
            return True
        try:
            ipaddress.ip_address(entry.strip("[]"))
            continue  # an address is exempt only as itself
        except ValueError:
            pass
        if entry and name.endswith(entry if entry.startswith(".") else f".{entry}"):
            return True
    return False


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if not host.startswith("[") or "]:" in host else host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class TransportOptions:
    ca_file: str | None = None
    plain_http: bool = False
    network: NetworkPolicy = NetworkPolicy()
    credentials: CredentialSources = CredentialSources()
    upload_sessions: Path | None = None  # where open uploads are remembered for the next run
    proxies: Mapping[str, str] = field(default_factory=dict)  # the environment's proxy variables (see via_proxy)


@dataclass(frozen=True)
class Answer:
    """A registry's answer, its body read whole but never past a size limit."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


def _public(url: str) -> str:
    """A URL fit for messages: no query string (upload state, tokens), no host, no session id."""
    path = urlsplit(url).path or "/"
    head, sep, _ = path.partition("/blobs/uploads/")
    return f"{head}/blobs/uploads/" if sep else path


class RegistryClient:
    """One registry host: scheme, TLS, auth, deadlines, retries and error mapping, shared by
    its repositories."""

    def __init__(self, host: str, options: TransportOptions, credentials: Credentials | None = None,
                 sibling_of: RegistryClient | None = None) -> None:
        """`sibling_of`: another client of this host (a push's, for its quick preflight) whose
        trust, scheme and auth tokens this one shares: what either learns, neither asks again."""
        self.host = host
        self.options = options
        self.network = options.network
        self.sessions = UploadSessions(options.upload_sessions)
        self.credentials = credentials if credentials is not None else find_credentials(host, options.credentials)
        self._ca_file = options.ca_file
        self._context = sibling_of.ssl_context() if sibling_of is not None else \
            trust_context(options.ca_file) if options.ca_file else None  # a bad --ca-file fails here
        self._context_lock = threading.Lock()
        self._lock = threading.Lock()
        self._scheme: str | None = "http" if options.plain_http else sibling_of.scheme if sibling_of is not None else None
        self._client: httpx.Client | None = None
        self.auth: RegistryAuth = RegistryAuth(self.credentials, self._plain_client, host,
                                               sibling_of.auth.learnt if sibling_of is not None else None)
        self._idle: list[http.client.HTTPConnection] = []  # kept-alive connections of plain GETs
        self.chunked_uploads = self.network.chunk_size > 0  # off once the registry refuses a PATCH

    def _timeout(self) -> httpx.Timeout:
        stall = self.network.stall_timeout
        return httpx.Timeout(stall, connect=self.network.connect_timeout, read=stall, write=stall, pool=stall)

    @property
    def scheme(self) -> str | None:
        """https or http once known (a request has been made, or --plain-http said so)."""
        return self._scheme

    @property
    def tls(self) -> bool:
        """Whether requests go over TLS (false until the scheme is known)."""
        return self._scheme == "https"

    def settle_scheme(self) -> str:
        """The scheme, found once (see _detect_scheme) unless --plain-http or a sibling said it."""
        with self._lock:
            if self._scheme is None:
                self._scheme = self._detect_scheme()
            return self._scheme

    def adopt_scheme(self, scheme: str | None) -> None:
        """What a sibling's probe found: this client need not probe again."""
        with self._lock:
            if self._scheme is None:
                self._scheme = scheme

    def ssl_context(self) -> ssl.SSLContext:
        with self._context_lock:
            if self._context is None:
                self._context = trust_context(self._ca_file)
            return self._context

    def _plain_client(self) -> httpx.Client:
        return httpx.Client(verify=self.ssl_context(), timeout=self._timeout(), headers={"User-Agent": f"pais/{__version__}"})

    @property
    def session(self) -> httpx.Client:
        scheme = self.settle_scheme()
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    base_url=f"{scheme}://{self.host}",
                    verify=self.ssl_context(),
                    timeout=self._timeout(),
                    auth=self.auth,
                    headers={"User-Agent": f"pais/{__version__}"},
                    limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
                )
            return self._client

    def _detect_scheme(self) -> str:
        """HTTPS, except for a loopback registry that does not speak TLS (Docker's rule too).
        Elsewhere there is nothing to ask: the first request meets whatever fails, with its
        retries. On loopback one TLS handshake, unverified, tells whether the port speaks TLS:
        nothing is sent over it, and every request after it verifies as always."""
        if not is_loopback(self.host):
            return "https"
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        probe.check_hostname = False
        probe.verify_mode = ssl.CERT_NONE
        try:
            with socket.create_connection(_host_port(self.host, "https"), timeout=self.network.connect_timeout) as sock:
                probe.wrap_socket(sock).close()
            return "https"
        except ssl.SSLError as exc:
            return "http" if _is_tls_protocol_error(exc) else "https"
        except TimeoutError as exc:
            raise self._no_connection() from exc
        except OSError as exc:
            raise self._cannot_reach(exc) from exc

    def transport_error(self, exc: Exception) -> RegistryError:
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(getattr(exc, "__cause__", None), ssl.SSLCertVerificationError):
            return TLSError(
                f"the TLS certificate of {self.host} could not be verified",
                "give the registry's CA with --ca-file PATH (or add it to the system trust store)",
            )
        if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
            return TLSError(f"{self.host} does not speak TLS",
                            "use --plain-http if this registry really serves plain HTTP on a trusted network")
        if isinstance(exc, httpx.ConnectTimeout):
            return self._no_connection()
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            return self._stalled()
        if isinstance(exc, httpx.ConnectError):
            return self._cannot_reach(exc)
        return RegistryStalled(f"the connection to {self.host} broke off: {type(exc).__name__}",
                                   "run the same command again: it resumes where this one stopped")

    def _cannot_reach(self, exc: Exception) -> RegistryUnreachable:
        return RegistryUnreachable(f"cannot reach registry {self.host}: {type(exc).__name__}",
                                   "check the host and port, and that the registry is running")

    def _no_connection(self) -> RegistryUnreachable:
        return RegistryUnreachable(f"cannot reach registry {self.host}: no connection within {self.network.connect_timeout:g} s",
                                   "check the host and port, and that the registry is running (--connect-timeout)")

    def _stalled(self) -> RegistryStalled:
        return RegistryStalled(f"registry {self.host} stalled: nothing received for {self.network.stall_timeout:g} s",
                               "the registry or a proxy on the way is stuck; retry later (--stall-timeout)")

    def request(self, method: str, url: str, *, ok: Sequence[int] | range = (200,), retry: bool = True,
                limit: int = MAX_ANSWER, stop: threading.Event | None = None, **kwargs: Any) -> Answer:
        """One request with deadlines; transient failures retried unless the body is a stream
        (`retry=False`: the caller re-opens the source and retries itself)."""
        what = f"{method} {_public(url)}"

        def once() -> Answer:
            if method == "GET" and self._client is None and url.startswith("/") and set(kwargs) <= {"headers"}:
                plain = self._plain_get(url, kwargs.get("headers") or {}, ok, limit, what)
                if plain is not None:
                    return plain
            try:
                with self.session.stream(method, url, **kwargs) as r:
                    # A HEAD's Content-Length is the size of what a GET would send (a whole blob): no body to cap.
                    body = b"" if method == "HEAD" else \
                        _read_capped(r, limit if r.status_code in ok else MAX_ERROR_BODY, self.host, what)
            except httpx.TransportError as exc:
                raise self.transport_error(exc) from exc
            answer = Answer(r.status_code, r.headers, body)
            if answer.status_code in ok:
                return answer
            raise self.error(answer, what)

        return self.network.call(what, once, stop) if retry else once()

    def error(self, response: Answer, what: str) -> RegistryError:
        code = response.status_code
        detail = _error_detail(response)
        if code == 401:
            who = f"the credentials from {self.credentials.source}" if self.credentials else "anonymous access"
            return AuthenticationError(
                f"{self.host} refused {who}{detail}",
                f"run `pais login {self.host}` (or docker login {self.host}), or set PAIS_REGISTRY_USERNAME and PAIS_REGISTRY_PASSWORD",
            )
        if code == 403:
            return PermissionDenied(f"{self.host} does not allow {what.split(' ')[0]} here{detail}",
                                    "ask the project's admin for push or pull rights for this account")
        if code == 404:
            return RegistryNotFound(f"not found on {self.host}{detail}", "run `pais models list` to see what the gallery holds")
        if code == 429 or code >= 500:
            return RegistryUnavailable(f"{self.host} answered HTTP {code} to {what}{detail}",
                                       "the registry is overloaded or failing: retry later; if it persists check its logs",
                                       _retry_after(response.headers.get("Retry-After")))
        return RegistryError(f"{self.host} answered HTTP {code} to {what}{detail}",
                             "check the registry's logs: pais did not expect this answer")

    def fast_get(self, path: str, headers: dict[str, str],
                 ok: Sequence[int] | range = (200, 206)) -> http.client.HTTPResponse | None:
        """A GET over http.client: a blob's bytes stream through it several times faster than
        through httpx's chunk iterator, and a command that only reads (a pull) starts no httpx
        client unless a proxy is set (see via_proxy). It answers challenges as httpx's path does
        (auth.py); a redirect (to object storage, say), a 416 or a connection that breaks
        returns None and the caller takes httpx's path, which follows redirects and maps
        transport errors. A deadline that passes,
        and any other answer outside `ok`, is the registry's: the same error (and retry) as on
        httpx's path, instead of asking twice."""
        if self.via_proxy():
            return None
        scopes = scopes_for("GET", path)
        sent = self.auth.header_for(scopes)
        response = self._send_get(path, headers, sent)
        if response is not None and response.status == 401:
            again = self.auth.answer_challenge(response.getheader("WWW-Authenticate") or "", scopes, sent)
            if again:
                self.done_with(response)
                response = self._send_get(path, headers, again)
        if response is None:
            return None
        if response.status in ok:
            return response
        if response.status == 416 or 300 <= response.status < 400:
            self.done_with(response)
            return None
        try:
            body = response.read(MAX_ERROR_BODY)
        except (OSError, http.client.HTTPException):
            body = b""
        finally:
            self.done_with(response)
        raise self.error(Answer(response.status, httpx.Headers(response.getheaders()), body), f"GET {_public(path)}")

    def via_proxy(self) -> bool:
        """Whether the environment sends this registry's requests through a proxy: then every
        request takes httpx's path, which honours it, and no byte goes around the proxy."""
        proxies = self.options.proxies
        if not proxies:
            return False
        if not (proxies.get(self.settle_scheme()) or proxies.get("all")):
            return False
        return not _bypasses_proxy(self.host, proxies.get("no", ""))

    def _send_get(self, path: str, headers: dict[str, str], authorization: str | None) -> http.client.HTTPResponse | None:
        """The answer's status and headers, on a kept-alive connection where one is idle (tried
        again on a new one if the registry has closed it meanwhile); None if none could be had."""
        sent = {"User-Agent": f"pais/{__version__}", **headers, **({"Authorization": authorization} if authorization else {})}
        with self._lock:
            idle = self._idle.pop() if self._idle else None
        for conn in (idle, None) if idle else (None,):
            try:
                if conn is None:
                    conn = self._connect()
                conn.request("GET", path, headers=sent)
                response = conn.getresponse()
            except TimeoutError as exc:  # a deadline passed: asking httpx would only wait as long again
                if conn is not None:
                    conn.close()
                raise self._stalled() from exc
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                continue
            response.connection = conn  # type: ignore[attr-defined]  # closed with it: see done_with
            return response
        return None

    def _connect(self) -> http.client.HTTPConnection:
        scheme = self.settle_scheme()
        host, port = _host_port(self.host, scheme)
        connect = self.network.connect_timeout
        if scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, context=self.ssl_context(), timeout=connect)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=connect)
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise self._no_connection() from exc
        if conn.sock is not None:
            conn.sock.settimeout(self.network.stall_timeout)  # from here on, an idle deadline per read
        return conn

    @staticmethod
    def done_with(response: http.client.HTTPResponse) -> None:
        """Close a fast_get answer and its connection (they refer to each other: left to the
        garbage collector, the socket would stay open until its next cycle)."""
        response.close()
        response.connection.close()  # type: ignore[attr-defined]

    def _plain_get(self, path: str, headers: dict[str, str], ok: Sequence[int] | range, limit: int, what: str) -> Answer | None:
        """A small GET (a manifest, a tag list) over fast_get's connections, its body read whole
        but never past `limit`; the connection is kept for the next one."""
        response = self.fast_get(path, headers, ok)
        if response is None:
            return None
        declared = response.getheader("Content-Length")
        try:
            if declared and declared.isdigit() and int(declared) > limit:
                raise _too_big(self.host, limit, what)
            body = response.read(limit + 1)
            if len(body) > limit:
                raise _too_big(self.host, limit, what)
        except TimeoutError as exc:
            self.done_with(response)
            raise self._stalled() from exc
        except (OSError, http.client.HTTPException):
            self.done_with(response)
            return None
        except RegistryError:
            self.done_with(response)
            raise
        if response.isclosed() and not response.will_close:  # read to its end: the connection can serve the next
            with self._lock:
                self._idle.append(response.connection)  # type: ignore[attr-defined]
        else:
            self.done_with(response)
        return Answer(response.status, httpx.Headers(response.getheaders()), body)

    def ping(self) -> Answer:
        return self.request("GET", "/v2/", ok=(200, 401))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _read_capped(response: httpx.Response, limit: int, host: str, what: str) -> bytes:
    """The body, refused as soon as it passes `limit`: a hostile registry cannot make pais
    hold a gigabyte answer in memory."""
    declared = response.headers.get("Content-Length")
    too_big = _too_big(host, limit, what)
    if response.request.method == "HEAD":
        return b""  # a HEAD's Content-Length is the resource's (a blob of gigabytes), and it has no body
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_big
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise too_big
    return bytes(body)


def _too_big(host: str, limit: int, what: str) -> RegistryError:
    return RegistryError(f"{host} sent more than {format_size(limit)} in answer to {what}",
                         "this is not an answer pais expects from a registry; check the registry and any proxy on the way")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def _is_tls_protocol_error(exc: Exception) -> bool:
    text = str(exc)
    return any(s in text for s in ("WRONG_VERSION_NUMBER", "record layer failure", "UNEXPECTED_EOF", "EOF occurred"))


def _error_detail(response: Answer) -> str:
    try:
        errors = response.json().get("errors") or []
        codes = [f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
        return f" ({'; '.join(codes)})" if codes else ""
    except (ValueError, AttributeError):
        return ""


class RegistryRepository:
    def __init__(self, client: RegistryClient, name: str) -> None:
        self.client = client
        self.name = name
        self.location = f"{client.host}/{name}"
        self._path = f"/v2/{name}"

    def resolve(self, reference: str) -> str:
        try:
            r = self.client.request("HEAD", f"{self._path}/manifests/{reference}", headers={"Accept": ACCEPT_MANIFESTS})
        except NotFound as exc:
            raise RegistryNotFound(f"{self.location}{'@' if reference.startswith('sha256:') else ':'}{reference} does not exist",
                           "run `pais models list` to see the revisions and tags") from exc
        digest = r.headers.get("Docker-Content-Digest")
        return digest if digest else self.fetch_manifest(reference).digest

    def fetch_manifest(self, reference: str) -> Manifest:
        try:
            r = self.client.request("GET", f"{self._path}/manifests/{reference}", headers={"Accept": ACCEPT_MANIFESTS})
        except NotFound as exc:
            raise RegistryNotFound(f"{self.location}{'@' if reference.startswith('sha256:') else ':'}{reference} does not exist",
                           "run `pais models list` to see the revisions and tags") from exc
        manifest = Manifest.parse(r.content, r.headers.get("Content-Type"))
        if reference.startswith("sha256:") and manifest.digest != reference:
            raise RegistryError(f"{self.client.host} sent a manifest that hashes to {manifest.digest}, not {reference}",
                                "the registry is corrupt or something altered the response")
        return manifest

    def has_blob(self, desc: Descriptor) -> bool:
        r = self.client.request("HEAD", f"{self._path}/blobs/{desc.digest}", ok=(200, 404))
        return r.status_code == 200

    @contextmanager
    def open_blob(self, desc: Descriptor, offset: int = 0) -> Iterator[Iterator[bytes]]:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        url = f"{self._path}/blobs/{desc.digest}"
        # Opening is retried here (nothing has been read yet); a stream that breaks later is
        # resumed by the caller from what it kept.
        fast = self.client.network.call(f"GET {url}", lambda: self.client.fast_get(url, headers))
        if fast is not None:
            try:
                self._check_length(desc, offset, fast.status, fast.getheader("Content-Length"), fast.getheader("Content-Range"))
                skip = offset if (offset and fast.status == 200) else 0
                yield _skip(_read_into(fast), skip)
            finally:
                self.client.done_with(fast)
            return
        try:
            with self.client.session.stream("GET", url, headers=headers, follow_redirects=True) as r:
                if r.status_code == 416 and offset:
                    raise self._corrupt(desc, f"it holds fewer than the {offset} bytes already received")
                if r.status_code not in (200, 206):
                    body = _read_capped(r, MAX_ERROR_BODY, self.client.host, f"GET {url}")
                    raise self.client.error(Answer(r.status_code, r.headers, body), f"GET {url}")
                self._check_length(desc, offset, r.status_code, r.headers.get("Content-Length"), r.headers.get("Content-Range"))
                skip = offset if (offset and r.status_code == 200) else 0
                yield _skip(r.iter_raw(DOWNLOAD_CHUNK), skip)
        except httpx.TransportError as exc:
            raise self.client.transport_error(exc) from exc

    def _corrupt(self, desc: Descriptor, why: str) -> DigestMismatch:
        return DigestMismatch(f"the store's copy of this file is corrupt: {desc.digest} ({why}, the manifest says "
                              f"{desc.size})", f"the registry {self.client.host} holds a damaged blob: push the revision again")

    def _check_length(self, desc: Descriptor, offset: int, status: int, length: str | None, content_range: str | None) -> None:
        """A blob the registry holds with another size than the manifest says is corrupt, not
        a transfer to resume (a re-run would only ask for bytes that are not there)."""
        total: int | None = None
        if status == 206 and content_range and "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            total = int(content_range.rsplit("/", 1)[1])
        elif status == 200 and length and length.isdigit():
            total = int(length)
        if total is not None and total != desc.size:
            raise self._corrupt(desc, f"it holds {total} bytes")

    def resume_offset(self, desc: Descriptor) -> int:
        """Bytes of `desc` an open upload session already holds (remembered from an earlier,
        interrupted push); 0 when there is none or the registry no longer knows it."""
        key = self._session_key(desc)
        session = self.client.sessions.get(key)
        if session is None or not self.client.chunked_uploads:
            return 0
        try:
            answer = self.client.request("GET", session.location, ok=(204,), retry=False)
        except RegistryError:
            # Gone or invalid: distribution invalidates a session whose last PATCH broke off.
            self.client.sessions.drop(key)
            return 0
        offset = _range_end(answer.headers.get("Range"))
        if offset is None or offset > desc.size:
            self.cancel_upload(session.location)
            self.client.sessions.drop(key)
            return 0
        self.client.sessions.put(key, UploadSession(self._absolute(answer.headers.get("Location") or session.location), offset))
        return offset

    def _session_key(self, desc: Descriptor) -> str:
        return UploadSessions.key(self.client.host, self.name, desc.digest)

    def _absolute(self, location: str) -> str:
        return urljoin(f"{self.client.settle_scheme()}://{self.client.host}/", location)

    def start_upload(self, mount: tuple[str, str] | None = None) -> tuple[bool, str]:
        url = f"{self._path}/blobs/uploads/"
        params = {"mount": mount[0], "from": mount[1]} if mount else None
        r = self.client.request("POST", url, params=params, ok=(201, 202))
        location = r.headers.get("Location")
        if r.status_code == 201:
            return True, ""
        if not location:
            raise RegistryError(f"{self.client.host} opened an upload without a Location", "the registry is not OCI-conformant")
        return False, self._absolute(location)

    def push_blob(self, desc: Descriptor, chunks: Iterator[bytes], progress: Progress = no_progress) -> None:
        """Chunked (a PATCH per chunk, sized to the link up to `chunk_size`, each acknowledged
        offset remembered for the next run) or, for a blob within one chunk or a registry that
        refuses PATCH, one PUT."""
        if isinstance(chunks, ChunkStream):
            chunks.finish_in_flight()  # a request broken off mid-way loses what its session held
        key = self._session_key(desc)
        session = self.client.sessions.get(key)
        chunk_size = self.client.network.chunk_size
        if session is None or session.offset == 0:
            if session is not None:
                self.client.sessions.drop(key)
            _, location = self.start_upload()
            session = UploadSession(location, 0)
        if not self.client.chunked_uploads or desc.size <= chunk_size:
            self._put_whole(session.location, desc, chunks, progress)
            self.client.sessions.drop(key)
            return
        source = _Rechunker(chunks)
        sizer = _ChunkSizer(chunk_size)
        offset, location = session.offset, session.location
        while offset < desc.size:
            if isinstance(chunks, ChunkStream) and chunks.stopping:
                raise Stopped  # between chunks: the session is remembered at `offset`
            n = min(sizer.size, desc.size - offset)
            started = time.monotonic()
            answer = self.client.request(
                "PATCH", location, content=source.take(n, progress), retry=False, ok=range(100, 600),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(n),
                         "Content-Range": f"{offset}-{offset + n - 1}"})
            if answer.status_code in (400, 405, 415, 416, 501) and offset == 0:
                # The registry wants monolithic uploads: say so once, then the copy retries whole.
                self.client.chunked_uploads = False
                self.cancel_upload(location)
                self.client.sessions.drop(key)
                raise TransferIncomplete(f"{self.client.host} refused a chunked upload (HTTP {answer.status_code})",
                                         "pais retries with one upload per blob")
            if answer.status_code != 202:
                raise self.client.error(answer, f"PATCH {_public(location)}")
            offset = _range_end(answer.headers.get("Range")) or offset + n
            location = self._absolute(answer.headers.get("Location") or location)
            self.client.sessions.put(key, UploadSession(location, offset))
            sizer.took(n, time.monotonic() - started)
        self._commit(key, location, desc, b"", {"Content-Length": "0"})

    def _put_whole(self, location: str, desc: Descriptor, chunks: Iterator[bytes], progress: Progress) -> None:
        def body() -> Iterator[bytes]:
            for chunk in chunks:
                progress(len(chunk))
                yield chunk

        try:
            self._commit(self._session_key(desc), location, desc, body(),
                         {"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)})
        except RegistryError as exc:
            if not isinstance(exc, TransientError):
                self.cancel_upload(location)  # a refusal: nothing to resume
            raise

    def _commit(self, key: str, location: str, desc: Descriptor, content: bytes | Iterator[bytes],
                headers: dict[str, str]) -> None:
        """The closing PUT ?digest=: the registry hashes what it holds and stores it only if it
        matches. A mismatch is corruption (the file changed, or bytes were altered on the way),
        and the session holding those bytes is abandoned so the next push starts clean."""
        url = location + ("&" if "?" in location else "?") + "digest=" + quote(desc.digest)
        answer = self.client.request("PUT", url, content=content, retry=False, ok=range(100, 600), headers=headers)
        if answer.status_code == 201:
            self.client.sessions.drop(key)
            return
        if answer.status_code == 400 and b"DIGEST_INVALID" in answer.content:
            self.cancel_upload(location)
            self.client.sessions.drop(key)
            raise DigestMismatch(f"the bytes the registry received for {desc.digest} do not match it: the source's copy "
                                 "is corrupt, or the file changed during the transfer",
                                 "check the source (a gallery's damaged blob, a file being written), then run again")
        raise self.client.error(answer, f"PUT {_public(url)}")

    def cancel_upload(self, location: str) -> None:
        """Abandon an upload session so the registry does not keep half a blob around."""
        try:
            self.client.session.delete(location)
        except httpx.HTTPError:
            pass

    def mount_blob(self, desc: Descriptor, source: Source) -> bool:
        if not isinstance(source, RegistryRepository) or source.client.host != self.client.host:
            return False
        mounted, location = self.start_upload((desc.digest, source.name))
        if not mounted:
            self.cancel_upload(location)
        return mounted

    def push_manifest(self, manifest: Manifest, tags: Sequence[str] = (), *, move_tags: bool = True) -> bool:
        """A registry has no conditional tag write: without `move_tags`, each tag is checked
        before the write and again after it, so a push never reports a tag that another
        revision took meanwhile. The window between the two remains; Harbor's immutable tag
        rules (`gallery init --immutable-tags`) close it on the server."""
        # A PUT by tag stores the manifest too, so the digest PUT is only needed untagged.
        indexed = False
        if not move_tags:
            for tag in tags:
                self._check_tag(tag, manifest.digest)
        for reference in tags or [manifest.digest]:
            indexed = self.put_manifest_bytes(manifest.raw, OCI_MANIFEST, reference) or indexed
        if not move_tags:
            for tag in tags:
                self._check_tag(tag, manifest.digest, written=True)
        return indexed

    def _check_tag(self, tag: str, digest: str, written: bool = False) -> None:
        try:
            current = self.resolve(tag)
        except NotFound as exc:
            if written:
                raise TagConflict(f"tag {tag!r} of {self.location} vanished right after it was written",
                                  "another client deleted it meanwhile: check `pais models list` and push again") from exc
            return
        if current != digest:
            raise TagConflict(
                f"tag {tag!r} of {self.location} " + ("was moved to" if written else "names") + f" {current}, not {digest}"
                + (" by another push at the same moment" if written else ""),
                "push with another tag, or add --force to move the tag")

    def delete(self, reference: str) -> None:
        url = f"{self._path}/manifests/{reference}"
        r = self.client.request("DELETE", url, ok=(202, 200, 400, 404, 405))
        if r.status_code in (202, 200):
            return
        if r.status_code == 404:
            raise RegistryNotFound(f"{self.location}{'@' if reference.startswith('sha256:') else ':'}{reference} does not exist",
                           "run `pais models list` to see the revisions and tags")
        if reference.startswith("sha256:"):
            raise RegistryError(f"{self.client.host} does not allow deleting manifests{_error_detail(r)}",
                                "enable deletion in the registry (distribution: storage.delete.enabled)")
        raise RegistryError(f"{self.client.host} cannot delete a tag on its own{_error_detail(r)}",
                            "delete the revision by --digest (removes all its tags), or move the tag with push --force")

    def put_manifest_bytes(self, raw: bytes, media_type: str, reference: str) -> bool:
        """PUT a manifest; True when the registry says it indexed the manifest's subject."""
        r = self.client.request("PUT", f"{self._path}/manifests/{reference}", content=raw,
                                headers={"Content-Type": media_type}, ok=(201,))
        echoed = r.headers.get("Docker-Content-Digest")
        if echoed and echoed != sha256_digest(raw):
            raise RegistryError(f"{self.client.host} stored the manifest as {echoed}", "the registry altered the manifest")
        return "OCI-Subject" in r.headers

    def push_raw_manifest(self, raw: bytes, media_type: str, tag: str | None = None) -> bool:
        indexed = self.put_manifest_bytes(raw, media_type, sha256_digest(raw))
        if tag:
            self.put_manifest_bytes(raw, media_type, tag)
        return indexed

    def fetch_raw_manifest(self, reference: str) -> tuple[bytes, str]:
        r = self.client.request("GET", f"{self._path}/manifests/{reference}", headers={"Accept": ACCEPT_MANIFESTS})
        if reference.startswith("sha256:") and sha256_digest(r.content) != reference:
            raise RegistryError(f"{self.client.host} sent a manifest that does not hash to {reference}", "the registry is corrupt")
        return r.content, r.headers.get("Content-Type", "")

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[dict[str, Any]] | None:
        """The referrers API's answer, or None where the registry does not serve it."""
        params = {"artifactType": artifact_type} if artifact_type else None
        r = self.client.request("GET", f"{self._path}/referrers/{digest}", params=params, ok=(200, 404, 405, 400))
        if r.status_code != 200 or not r.headers.get("Content-Type", "").startswith(OCI_INDEX):
            return None
        manifests = r.json().get("manifests") or []
        return [m for m in manifests if isinstance(m, dict)]

    def tags(self, missing_ok: bool = True) -> list[str]:
        found: list[str] = []
        url: str | None = f"{self._path}/tags/list?n=1000"
        while url:
            try:
                r = self.client.request("GET", url)
            except NotFound:
                if missing_ok:
                    return []
                raise
            found.extend(r.json().get("tags") or [])
            url = _next_link(r)
        return sorted(found)

    def revisions(self, missing_ok: bool = True) -> list[Revision]:
        tags = [t for t in self.tags(missing_ok) if not REFERRERS_TAG.match(t)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            digests = list(pool.map(self.resolve, tags))
        found: dict[str, Revision] = {}
        for tag, digest in zip(tags, digests):
            found.setdefault(digest, Revision(digest)).tags.append(tag)
        return list(found.values())


class _ChunkSizer:
    """Upload chunks sized to the link. Each should take about CHUNK_SECONDS, so that the one in
    flight when Ctrl-C comes lands within the stop's grace and its session stays valid:
    distribution discards a session whose chunk broke off mid-way, and the blob starts over.
    A fast link gets --chunk-size (the largest); a slow one smaller chunks, never below
    MIN_CHUNK (each chunk costs a round trip). Sizes grow at most fourfold per chunk."""

    FIRST = 512 * 1024
    MIN_CHUNK = 256 * 1024
    CHUNK_SECONDS = CHUNK_GRACE_S / 2

    def __init__(self, largest: int) -> None:
        self.largest = largest
        self.size = min(largest, self.FIRST)

    def took(self, n: int, seconds: float) -> None:
        fits = int(n / max(seconds, 1e-3) * self.CHUNK_SECONDS) // self.MIN_CHUNK * self.MIN_CHUNK
        self.size = min(self.largest, 4 * n, max(self.MIN_CHUNK, fits))


class _Rechunker:
    """Cuts a stream of chunks into request bodies of exact sizes."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def take(self, n: int, progress: Progress) -> Iterator[bytes]:
        while n > 0:
            if not self._left:
                self._left = next(self._chunks, b"")
                if not self._left:
                    raise TransferIncomplete("the file ended before the size the manifest gives",
                                             "the model directory changed during the push: push it again")
            piece, self._left = self._left[:n], self._left[n:]
            n -= len(piece)
            progress(len(piece))
            yield piece


def _range_end(value: str | None) -> int | None:
    """The offset after a `Range: 0-N` header (the bytes a registry acknowledged). Distribution
    answers 0-0 for an empty upload; pais never sends a 1-byte PATCH first, so 0-0 means 0."""
    if not value or "-" not in value:
        return None
    end = value.rsplit("-", 1)[1]
    if not end.isdigit():
        return None
    return 0 if value.strip() == "0-0" else int(end) + 1


def _read_into(response: http.client.HTTPResponse, largest: int = 2 * DOWNLOAD_CHUNK) -> Iterator[bytes]:
    """Chunks that start small and grow up to `largest`: a reader that wants only a header
    (endpoint sizing) stops after a few hundred KiB, a download soon reads MiBs at a time.
    read1 hands over what has arrived instead of waiting to fill a buffer, so a reset loses
    nothing already received (the partial file keeps it) and costs no speed (measured: the
    same 0.4 s for 384 MiB on loopback as readinto into one buffer)."""
    size = 256 * 1024
    try:
        while data := response.read1(size):
            yield data
            size = min(size * 2, largest)
    except (OSError, http.client.HTTPException) as exc:
        raise TransferIncomplete(f"blob stream broke off: {type(exc).__name__}",
                                 "run the same command again: it resumes where this one stopped") from exc


def _skip(chunks: Iterator[bytes], skip: int) -> Iterator[bytes]:
    for chunk in chunks:
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        yield chunk[skip:] if skip else chunk
        skip = 0


def _next_link(response: Answer) -> str | None:
    link: str | None = response.headers.get("Link")
    if not link or 'rel="next"' not in link:
        return None
    return link.split(";")[0].strip().strip("<>")


class RegistryGallery:
    """A registry namespace (a Harbor project, say) as a gallery."""

    def __init__(self, location: RegistryLocation, options: TransportOptions, client: RegistryClient | None = None) -> None:
        self.location = location
        self.client = client or RegistryClient(location.host, options)
        self.description = str(location)
        self._harbor: HarborProject | None = None
        self._asked_harbor = False

    @property
    def plain_http(self) -> bool:
        return self.client.settle_scheme() == "http"

    def repository(self, model: str) -> RegistryRepository:
        return RegistryRepository(self.client, self.location.repository(model))

    def harbor(self) -> HarborProject | None:
        """The Harbor project this gallery is, when the registry is Harbor (asked once), else None."""
        if not self._asked_harbor:
            from ..harbor import HarborClient, HarborProject  # Harbor's API only where it is asked

            client = HarborClient(self.client)
            if client.system_info().is_harbor:
                self._harbor = HarborProject(client, self.location.namespace.partition("/")[0])
            self._asked_harbor = True
        return self._harbor

    def models(self) -> list[str]:
        prefix = self.location.namespace + "/"
        names: list[str] = []
        url: str | None = "/v2/_catalog?n=1000"
        while url:
            r = self.client.request("GET", url)
            names.extend(r.json().get("repositories") or [])
            url = _next_link(r)
        return sorted(n[len(prefix):] for n in names if n.startswith(prefix))

    def catalog(self, model: str | None = None, jobs: int = 8) -> dict[str, list[Revision]]:
        """On Harbor its API finds repositories and artifacts (untagged ones too) in a few
        requests; elsewhere the catalog and each repository's tags (tagged revisions only)."""
        harbor = self.harbor()
        if harbor is not None:
            found: dict[str, list[Revision]] = {model: []} if model else {}
            for row in harbor.client.list_models(self.location.namespace, model):
                if row.is_model:
                    found.setdefault(row.model, []).append(Revision(row.digest, sorted(row.tags)))
            return found
        names = [model] if model else self.models()

        def revisions_of(name: str) -> list[Revision] | None:
            try:
                return self.repository(name).revisions(missing_ok=False)
            except NotFound:
                return None  # no such repository: not a model of this gallery

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return {n: r for n, r in zip(names, pool.map(revisions_of, names)) if r is not None}

    def preflight(self, model: str) -> RegistryRepository:
        quick = RegistryClient(self.location.host, replace(self.client.options, network=self.client.network.quick()),
                               self.client.credentials, sibling_of=self.client)
        repository = RegistryRepository(quick, self.location.repository(model))
        # An upload session opened and cancelled: the registry answers, TLS verified, and these
        # credentials may push to this repository (a token scope with push, or Basic accepted).
        # A busy registry (429, 5xx, slow to answer) proves none of that wrong: the transfer,
        # with its full retries, finds out.
        try:
            repository.cancel_upload(repository.start_upload()[1])
        except (RegistryUnavailable, RegistryStalled) as exc:
            quick.network.report(f"preflight inconclusive, the transfer will retry: {exc.message}")
        self.client.adopt_scheme(quick.scheme)
        return repository

    def collect_garbage(self, dry_run: bool, grace_s: float) -> GarbageReport:
        raise UsageError(f"{self.description} is a registry: it collects its own garbage",
                         "run the registry's garbage collection (Harbor: Administration > Clean Up; "
                         "distribution: `registry garbage-collect`)")

    def prepare(self, settings: dict[str, Any]) -> StoreCheck:
        """Reachability, TLS, the auth scheme, whose credentials, and whether a push would be
        allowed (an upload session opened in a probe repository and cancelled)."""
        client = self.client
        check = StoreCheck()
        anonymous = client.session.get("/v2/", auth=None)
        check.scheme = "https" if client.tls else "http"
        check.tls_verified = client.tls
        if not client.tls:
            check.notes.append("plain HTTP: only acceptable on loopback or a trusted network")
        if anonymous.status_code == 401:
            check.auth = anonymous.headers.get("WWW-Authenticate", "").split(" ")[0].lower() or "unknown"
            client.ping()  # authenticates with what we have; raises when refused
            if client.credentials is None:
                check.notes.append("registry needs credentials and none were found: run pais login (or docker login)")
        else:
            check.auth = "none"
        check.credentials = client.credentials.source if client.credentials else None
        probe = self.repository("pais-push-check")
        try:
            probe.cancel_upload(probe.start_upload()[1])
            check.push_allowed = True
        except RegistryError as exc:
            check.push_allowed = False
            check.notes.append(f"push not allowed: {exc.message}")
        return check
