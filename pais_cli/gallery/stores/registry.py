"""OCI distribution API over httpx: the whole registry protocol pais speaks lives here.

Why not oras-py: it reads whole blobs into memory for monolithic uploads, cannot set
`artifactType` or push an index, and retries for minutes. Here: streamed monolithic PUTs with
a known Content-Length, streamed GETs with Range for resumption, bounded retries, and auth that
is sent up front once learnt (see auth.py).
"""

from __future__ import annotations

import http.client
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from ... import __version__
from ...errors import (
    AuthenticationError,
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
from ..harbor import HarborClient, HarborProject
from ..mediatypes import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST
from ..oci import Descriptor, Manifest, sha256_digest
from ..reference import REFERRERS_TAG, RegistryLocation
from .base import Progress, Revision, Source, StoreCheck, no_progress

ACCEPT_MANIFESTS = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST))
DOWNLOAD_CHUNK = 1024 * 1024
RETRIES = 2  # bounded: a registry that is down is reported within seconds, not minutes


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
    timeout: float = 60.0
    credentials: CredentialSources = CredentialSources()


class RegistryClient:
    """One registry host: scheme, TLS, auth and error mapping, shared by its repositories."""

    def __init__(self, host: str, options: TransportOptions, credentials: Credentials | None = None) -> None:
        self.host = host
        self.options = options
        self.credentials = credentials if credentials is not None else find_credentials(host, options.credentials)
        self._verify: ssl.SSLContext | bool
        if options.ca_file:
            self._verify = ssl.create_default_context(cafile=options.ca_file)
        else:
            self._verify = True
        self._lock = threading.Lock()
        self._scheme: str | None = "http" if options.plain_http else None
        self._client: httpx.Client | None = None
        self.auth = RegistryAuth(self.credentials, self._plain_client, host)
        self.tls = False

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.options.timeout, connect=10.0)

    def _plain_client(self) -> httpx.Client:
        return httpx.Client(verify=self._verify, timeout=self._timeout(), headers={"User-Agent": f"pais/{__version__}"})

    @property
    def session(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                scheme = self._scheme or self._detect_scheme()
                self._scheme = scheme
                self.tls = scheme == "https"
                self._client = httpx.Client(
                    base_url=f"{scheme}://{self.host}",
                    verify=self._verify,
                    timeout=self._timeout(),
                    auth=self.auth,
                    headers={"User-Agent": f"pais/{__version__}"},
                    limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
                )
            return self._client

    def _detect_scheme(self) -> str:
        """HTTPS always; plain HTTP only for a loopback registry that does not speak TLS."""
        try:
            with self._plain_client() as probe:
                probe.get(f"https://{self.host}/v2/")
            return "https"
        except httpx.ConnectError as exc:
            if is_loopback(self.host) and _is_tls_protocol_error(exc):
                return "http"
            raise self.transport_error(exc) from exc
        except httpx.TransportError as exc:
            raise self.transport_error(exc) from exc

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
        return RegistryUnreachable(f"cannot reach registry {self.host}: {type(exc).__name__}",
                                   "check the host and port, and that the registry is running")

    def request(self, method: str, url: str, *, ok: Sequence[int] = (200,), retry: bool = True, **kwargs: Any) -> httpx.Response:
        attempts = RETRIES + 1 if retry and method in ("GET", "HEAD") else 1
        for attempt in range(attempts):
            try:
                response = self.session.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt + 1 < attempts and not isinstance(exc, httpx.ConnectError | httpx.TimeoutException):
                    time.sleep(0.5 * (attempt + 1))
                    continue
                if attempt + 1 < attempts and isinstance(exc, httpx.ConnectError):
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise self.transport_error(exc) from exc
            if response.status_code in ok:
                return response
            if response.status_code >= 500 and attempt + 1 < attempts:
                time.sleep(0.5 * (attempt + 1))
                continue
            raise self.error(response, f"{method} {url}")
        raise AssertionError("unreachable")

    def error(self, response: httpx.Response, what: str) -> RegistryError:
        code = response.status_code
        detail = _error_detail(response)
        if code == 401:
            who = f"the credentials from {self.credentials.source}" if self.credentials else "anonymous access"
            return AuthenticationError(
                f"{self.host} refused {who}{detail}",
                f"run `docker login {self.host}`, or set PAIS_REGISTRY_USERNAME and PAIS_REGISTRY_PASSWORD",
            )
        if code == 403:
            return PermissionDenied(f"{self.host} does not allow {what.split(' ')[0]} here{detail}",
                                    "ask the project's admin for push or pull rights for this account")
        if code == 404:
            return RegistryNotFound(f"not found on {self.host}{detail}", "run `pais models list` to see what the gallery holds")
        return RegistryError(f"{self.host} answered HTTP {code} to {what}{detail}",
                             "retry later; if it persists check the registry's logs")

    def fast_get(self, path: str, headers: dict[str, str]) -> http.client.HTTPResponse | None:
        """A blob GET over http.client, whose readinto into one buffer streams several times
        faster than httpx's chunk iterator. Only the plain case: auth already learnt (or none
        needed) and the bytes served directly; a challenge, a redirect (to object storage,
        say) or an error returns None and the caller takes the general httpx path."""
        base = self.session.base_url  # settles the scheme first
        header = self.auth.header_for(scopes_for(httpx.Request("GET", f"{base.scheme}://{self.host}{path}")))
        host, port = base.host, base.port
        try:
            if self.tls:
                context = self._verify if isinstance(self._verify, ssl.SSLContext) else ssl.create_default_context()
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, context=context, timeout=self.options.timeout)
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self.options.timeout)
            sent = {"User-Agent": f"pais/{__version__}", **headers, **({"Authorization": header} if header else {})}
            conn.request("GET", path, headers=sent)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException):
            return None
        if response.status in (200, 206):
            return response
        response.close()
        conn.close()
        return None

    def ping(self) -> httpx.Response:
        return self.request("GET", "/v2/", ok=(200, 401))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _is_tls_protocol_error(exc: Exception) -> bool:
    text = str(exc)
    return any(s in text for s in ("WRONG_VERSION_NUMBER", "record layer failure", "UNEXPECTED_EOF", "EOF occurred"))


def _error_detail(response: httpx.Response) -> str:
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
        fast = self.client.fast_get(url, headers)
        if fast is not None:
            try:
                skip = offset if (offset and fast.status == 200) else 0
                yield _skip(_read_into(fast), skip)
            finally:
                fast.close()
            return
        try:
            with self.client.session.stream("GET", url, headers=headers, follow_redirects=True) as r:
                if r.status_code not in (200, 206):
                    r.read()
                    raise self.client.error(r, f"GET {url}")
                skip = offset if (offset and r.status_code == 200) else 0
                yield _skip(r.iter_raw(DOWNLOAD_CHUNK), skip)
        except httpx.TransportError as exc:
            raise self.client.transport_error(exc) from exc

    def resume_offset(self, desc: Descriptor) -> int:
        return 0

    def start_upload(self, mount: tuple[str, str] | None = None) -> tuple[bool, str]:
        url = f"{self._path}/blobs/uploads/"
        params = {"mount": mount[0], "from": mount[1]} if mount else None
        r = self.client.request("POST", url, params=params, ok=(201, 202))
        location = r.headers.get("Location")
        if r.status_code == 201:
            return True, ""
        if not location:
            raise RegistryError(f"{self.client.host} opened an upload without a Location", "the registry is not OCI-conformant")
        return False, urljoin(str(self.client.session.base_url) + "/", location)

    def push_blob(self, desc: Descriptor, chunks: Iterator[bytes], progress: Progress = no_progress) -> None:
        _, location = self.start_upload()
        self._finish_upload(location, desc, chunks, progress)

    def _finish_upload(self, location: str, desc: Descriptor, chunks: Iterator[bytes], progress: Progress) -> None:
        def body() -> Iterator[bytes]:
            for chunk in chunks:
                progress(len(chunk))
                yield chunk

        url = location + ("&" if "?" in location else "?") + "digest=" + quote(desc.digest)
        try:
            self.client.request(
                "PUT",
                url,
                content=body(),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)},
                ok=(201,),
            )
        except RegistryError:
            self.cancel_upload(location)
            raise

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

    def push_manifest(self, manifest: Manifest, tags: Sequence[str] = ()) -> bool:
        # A PUT by tag stores the manifest too, so the digest PUT is only needed untagged.
        indexed = False
        for reference in tags or [manifest.digest]:
            indexed = self.put_manifest_bytes(manifest.raw, OCI_MANIFEST, reference) or indexed
        return indexed

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
        if len(r.content) > 4 * 1024 * 1024:
            raise RegistryError(f"manifest {reference} is larger than 4 MiB", "this is not something pais wrote")
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

    def tags(self) -> list[str]:
        found: list[str] = []
        url: str | None = f"{self._path}/tags/list?n=1000"
        while url:
            try:
                r = self.client.request("GET", url)
            except NotFound:
                return []
            found.extend(r.json().get("tags") or [])
            url = _next_link(r)
        return sorted(found)

    def revisions(self) -> list[Revision]:
        from concurrent.futures import ThreadPoolExecutor

        tags = [t for t in self.tags() if not REFERRERS_TAG.match(t)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            digests = list(pool.map(self.resolve, tags))
        found: dict[str, Revision] = {}
        for tag, digest in zip(tags, digests):
            found.setdefault(digest, Revision(digest)).tags.append(tag)
        return list(found.values())


def _read_into(response: http.client.HTTPResponse, largest: int = 4 * DOWNLOAD_CHUNK) -> Iterator[bytes]:
    """Chunks that start small and double up to `largest`: a reader that wants only a header
    (endpoint sizing) stops after a few hundred KiB, a download soon reads 4 MiB at a time."""
    buffer = bytearray(largest)
    size = 256 * 1024
    try:
        while n := response.readinto(memoryview(buffer)[:size]):
            yield bytes(buffer[:n])  # a copy: consumers may keep chunks (read_blob joins them)
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


def _next_link(response: httpx.Response) -> str | None:
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
        self.client.session  # the scheme is known once connected
        return not self.client.tls

    def repository(self, model: str) -> RegistryRepository:
        return RegistryRepository(self.client, self.location.repository(model))

    def harbor(self) -> HarborProject | None:
        """The Harbor project this gallery is, when the registry is Harbor (asked once), else None."""
        if not self._asked_harbor:
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
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return dict(zip(names, pool.map(lambda name: self.repository(name).revisions(), names)))

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
                check.notes.append("registry needs credentials and none were found: run docker login")
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
