"""Hugging Face Hub: download a model repo into a directory, record where it came from, and prove
later that the files are still the bytes the Hub published.

Download
--------
`download_model` asks the Hub (``GET /api/models/{repo}/revision/{rev}?blobs=true``) which commit
the requested revision names and which files that commit holds, then runs huggingface_hub's
``snapshot_download(local_dir=dest)`` pinned to that commit, so every file comes from one commit
even if the branch moves meanwhile. ``local_dir`` mode writes real files (no symlinks into a
cache). huggingface_hub stages each file as ``dest/.cache/huggingface/download/*.incomplete`` and
moves it into place only once its size checks out, so an interrupted download leaves complete
files (reused by the next run) and no partial ones at final paths. Its cache_dir is pointed
inside ``dest`` too (and removed afterwards), so nothing is written outside ``dest``.
huggingface_hub checks only sizes, so each file is then hashed and compared with the digest the
Hub publishes (model info with blobs=true); what differs is fetched again, and refused if it
still differs.
The endpoint is ``endpoint=`` (the CLI passes ``HF_ENDPOINT``, read at call time, since
huggingface_hub reads it once, at import), else https://huggingface.co. The token is ``token=``, else what
huggingface_hub finds (``HF_TOKEN``, then the ``hf auth login`` file); it is never printed or
recorded.

Hub metadata in a downloaded directory
--------------------------------------
``dest/.cache/huggingface/download/<path>.metadata`` (written by huggingface_hub, also by
``hf download --local-dir``), one per file, three lines::

    <commit sha, 40 hex>
    <etag: sha256 of the content (64 hex) for LFS files; git blob sha1 (40 hex) otherwise>
    <unix timestamp of the download>

The git blob sha1 is ``sha1(b"blob <size>\\0" + content)``, the id git gives the file.

``dest/.pais/source.json`` (written by pais; hidden, so not pushed unless asked), schemaVersion 1::

    {
      "schemaVersion": 1,
      "source": "huggingface",
      "endpoint": "https://huggingface.co",
      "repoId": "org/name",
      "repoType": "model",
      "revision": "main",              # as requested; null when none was given (default branch)
      "commit": "<40 hex>",            # what it resolved to; every file comes from this commit
      "allowPatterns": null,           # or the list the download was filtered with
      "downloadedAt": "2025-01-01T00:00:00Z",
      "tool": {"pais": "0.1.0", "huggingface_hub": "2.4.0"},
      "files": [                       # the files downloaded, sorted by path
        {"path": "config.json", "size": 512, "blobId": "<git blob sha1 of the content>"},
        {"path": "model.safetensors", "size": 123456,
         "blobId": "<git blob sha1 of the LFS pointer>",
         "lfs": {"sha256": "<sha256 of the content, as the Hub published it>", "size": 123456}}
      ]
    }

`hub_expected_digests` reads both and `verify_against_hub` compares the files with them.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from . import __version__
from .errors import NotFound, PaisError, UnsafeArtifact, UsageError
from .modeldir.digests import DigestCache
from .modeldir.provenance import (
    GIT_BLOB_SHA1,
    HEX40,
    HEX64,
    HF_DOWNLOAD_DIR,
    HF_TREE_DIR,
    SHA256,
    SOURCE_FILE,
    SOURCE_SCHEMA_VERSION,
    check_repo_path,
    git_blob_sha1,
    read_metadata,
)

DEFAULT_ENDPOINT = "https://huggingface.co"
_TOKEN_HINT = "set HF_TOKEN to a Hugging Face access token (https://huggingface.co/settings/tokens) that can read it"


class HubError(PaisError):
    """The Hugging Face Hub refused or failed a request."""


class HubRepoNotFound(HubError, NotFound):
    """No such model repo, or a private one the token cannot see."""


class HubRevisionNotFound(HubError, NotFound):
    """The repo exists but has no such branch, tag or commit."""


class HubAccessDenied(HubError):
    """The repo is gated or private and the request had no token, or one without access."""


class HubUnreachable(HubError):
    """No connection to the Hub endpoint could be made (or offline mode is on)."""


class HubDownloadFailed(HubError):
    """The download started but did not complete."""


# --------------------------------------------------------------------------------------------
# download


@dataclass
class DownloadResult:
    repo_id: str
    revision: str | None  # as requested (None: the default branch)
    commit: str  # what it resolved to
    path: str
    files: int
    bytes: int
    endpoint: str = DEFAULT_ENDPOINT
    provenance: str = ""  # path of .pais/source.json
    repaired: int = 0  # local files that differed from the Hub and were fetched again

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def hub_endpoint(endpoint: str | None = None) -> str:
    return (endpoint or DEFAULT_ENDPOINT).rstrip("/")


def download_model(
    repo_id: str,
    dest: Path,
    revision: str | None = None,
    token: str | None = None,
    allow_patterns: list[str] | str | None = None,
    *,
    endpoint: str | None = None,
    max_workers: int = 8,
    progress: bool | FileCounter = True,
    digests: DigestCache | None = None,
) -> DownloadResult:
    """Download `repo_id` at `revision` (default branch when None) into `dest` as real files.

    Every file comes from the one commit the revision resolves to, is checked against the digest
    the Hub publishes for it (sha256 for LFS files, git blob sha1 for others; a local file that
    differs is fetched again), and is listed in `dest/.pais/source.json`, written last: a
    directory with that record holds a complete, verified download.

    Raises HubRepoNotFound, HubRevisionNotFound, HubAccessDenied (gated or private: set
    HF_TOKEN), HubUnreachable, HubDownloadFailed, UnsafeArtifact (a file name or a link in
    `dest` that would write outside it) or UsageError.
    """
    import huggingface_hub
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download
    from huggingface_hub.utils import filter_repo_objects

    endpoint = hub_endpoint(endpoint)
    dest = Path(dest).expanduser().absolute()
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest} exists and is not a directory", "give a new or existing directory as the destination")
    api = HfApi(endpoint=endpoint, token=token, library_name="pais", library_version=__version__)
    where = f"{repo_id}@{revision}" if revision else repo_id

    # Resolve first: it names the commit and the files, and it fails cleanly before anything is written.
    with _hub_errors(repo_id, revision, endpoint):
        info = api.model_info(repo_id, revision=revision, files_metadata=True)
    commit = info.sha or ""
    if not HEX40.fullmatch(commit):
        raise HubError(f"the Hub at {endpoint} gave no commit for {where}",
                       "check that HF_ENDPOINT points to a Hugging Face Hub (or a mirror of its API)")
    siblings = {s.rfilename: s for s in info.siblings or []}
    planned = sorted(filter_repo_objects(items=list(siblings), allow_patterns=allow_patterns))
    if not planned:
        raise HubError(f"no files to download from {where}"
                       + (f" matching {allow_patterns!r}" if allow_patterns else ""),
                       "check the allow patterns" if allow_patterns else "the repo is empty at this revision")
    for name in planned:
        check_repo_path(name)
    _check_previous_download(dest, repo_id)
    for name in planned:
        _refuse_links(dest, name)
        _refuse_links(dest, f"{HF_DOWNLOAD_DIR}/{name}.metadata")
    for rel in (SOURCE_FILE, ".pais/hf-cache/x", f"{HF_TREE_DIR}/x"):
        _refuse_links(dest, rel)

    dest.mkdir(parents=True, exist_ok=True)
    source_path = dest / SOURCE_FILE
    # A stale record would vouch for a directory this run may leave half updated.
    source_path.unlink(missing_ok=True)
    cache_dir = dest / ".pais" / "hf-cache"
    common: dict[str, Any] = dict(
        local_dir=dest,
        cache_dir=cache_dir,  # huggingface_hub's own cache, kept inside dest: nothing is written elsewhere
        endpoint=endpoint,
        token=token,
        library_name="pais",
        library_version=__version__,
        tqdm_class=None if progress is True else _quiet_tqdm(None if progress is False else progress),
    )
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    # One display: huggingface_hub's per-file bars stay off unless its own bars were asked for.
    bars_were_off = are_progress_bars_disabled()
    if progress is not True:
        disable_progress_bars()
    try:
        with _hub_errors(repo_id, revision, endpoint, downloading=True):
            snapshot_download(repo_id, revision=commit,  # pinned: every file from the commit the record names
                              allow_patterns=allow_patterns, max_workers=max_workers, **common)
        for name in planned:
            _check_arrived(dest, name, commit, where)
        # huggingface_hub checks sizes, never content, and keeps a local file whose metadata is
        # fresh by mtime: hash everything against what the Hub publishes, fetch again what differs.
        cache = digests or DigestCache()
        stale = [name for name in planned if not _matches_published(dest / name, siblings[name], cache)]
        if stale:
            with _hub_errors(repo_id, revision, endpoint, downloading=True):
                for name in stale:
                    hf_hub_download(repo_id, name, revision=commit, force_download=True, **common)
            for name in stale:
                if not _matches_published(dest / name, siblings[name], cache):
                    # Leave no unverified bytes at a final path.
                    (dest / name).unlink(missing_ok=True)
                    (dest / HF_DOWNLOAD_DIR / f"{name}.metadata").unlink(missing_ok=True)
                    raise HubDownloadFailed(
                        f"{name} from {endpoint} does not match the digest the Hub publishes for it",
                        "the endpoint or a proxy altered it: check HF_ENDPOINT and proxies, then download again")
    finally:
        if not bars_were_off:
            enable_progress_bars()
        shutil.rmtree(cache_dir, ignore_errors=True)

    files = [_provenance_entry(dest / name, name, siblings[name]) for name in planned]
    record = {
        "schemaVersion": SOURCE_SCHEMA_VERSION,
        "source": "huggingface",
        "endpoint": endpoint,
        "repoId": repo_id,
        "repoType": "model",
        "revision": revision,
        "commit": commit,
        "allowPatterns": [allow_patterns] if isinstance(allow_patterns, str) else allow_patterns,
        "downloadedAt": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool": {"pais": __version__, "huggingface_hub": huggingface_hub.__version__},
        "files": files,
    }
    _write_atomically(source_path, (json.dumps(record, indent=2) + "\n").encode())
    return DownloadResult(repo_id=repo_id, revision=revision, commit=commit, path=str(dest),
                          files=len(files), bytes=sum(f["size"] for f in files), endpoint=endpoint,
                          provenance=str(source_path), repaired=len(stale))


def _check_arrived(dest: Path, name: str, commit: str, where: str) -> None:
    """huggingface_hub returns an existing local_dir without complaint when the Hub stops
    answering half way, so completeness is checked here, not assumed."""
    full = dest / name
    if full.is_symlink() or not full.is_file():
        raise HubDownloadFailed(f"download of {where} is incomplete: {name} did not arrive",
                                "check the connection to the Hub and run the download again; finished files are kept")
    meta = read_metadata(dest / HF_DOWNLOAD_DIR / f"{name}.metadata")
    if meta is None or meta[0] != commit:
        raise HubDownloadFailed(f"download of {where} is incomplete: {name} was not fetched from commit {commit[:12]}",
                                "check the connection to the Hub and run the download again")


def _published(sibling: Any) -> tuple[str, str, int | None] | None:
    """(algorithm, hex, size) the Hub publishes for a file (model info with blobs=true)."""
    lfs = getattr(sibling, "lfs", None)
    if lfs is not None and HEX64.fullmatch(str(lfs.sha256)):
        return SHA256, lfs.sha256, lfs.size
    blob_id = getattr(sibling, "blob_id", None)
    if blob_id and HEX40.fullmatch(blob_id):
        return GIT_BLOB_SHA1, blob_id, getattr(sibling, "size", None)
    return None


def _matches_published(full: Path, sibling: Any, cache: DigestCache) -> bool:
    published = _published(sibling)
    if published is None:
        return True  # nothing to compare with (a mirror without blob metadata)
    algorithm, value, size = published
    if size is not None and full.stat().st_size != size:
        return False
    if algorithm == SHA256:
        # The digest cache is the one push and validation use: this hash is not computed twice.
        return cache.digest(full) == f"sha256:{value}"
    return git_blob_sha1(full) == value


def _provenance_entry(full: Path, name: str, sibling: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": name, "size": full.stat().st_size}
    if getattr(sibling, "blob_id", None):
        entry["blobId"] = sibling.blob_id
    lfs = getattr(sibling, "lfs", None)
    if lfs is not None:
        entry["lfs"] = {"sha256": lfs.sha256, "size": lfs.size}
    return entry


def _refuse_links(dest: Path, rel: str) -> None:
    """Writing `rel` under `dest` must not pass through a symlink that leads elsewhere."""
    current = dest
    for part in rel.split("/"):
        current = current / part
        if current.is_symlink():
            raise UnsafeArtifact(f"{current} is a symbolic link; downloading through it could write outside {dest}",
                                 "remove the link or download into a new directory")
        if not current.exists():
            return


def _check_previous_download(dest: Path, repo_id: str) -> None:
    try:
        previous = json.loads((dest / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return
    other = previous.get("repoId") if isinstance(previous, dict) else None
    if other and other != repo_id:
        raise UsageError(f"{dest} holds a download of {other}, not {repo_id}",
                         "download into another directory (--dest)")


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@contextmanager
def _hub_errors(repo_id: str, revision: str | None, endpoint: str, downloading: bool = False) -> Iterator[None]:
    """Turns huggingface_hub / HTTP errors into one-line typed errors with hints."""
    try:
        yield
    except PaisError:
        raise
    except Exception as exc:
        raise _translate(exc, repo_id, revision, endpoint, downloading) from exc


def _translate(exc: Exception, repo_id: str, revision: str | None, endpoint: str, downloading: bool) -> PaisError:
    from huggingface_hub import errors as hf

    page = f"{endpoint}/{repo_id}"
    resume = "; finished files are kept, run the same download again to resume" if downloading else ""
    if isinstance(exc, hf.HFValidationError):
        return UsageError(f"{repo_id!r} is not a Hugging Face repo id", "use owner/name, e.g. Qwen/Qwen3-0.6B")
    if isinstance(exc, hf.RevisionNotFoundError):
        return HubRevisionNotFound(f"{repo_id} has no revision {revision!r} on {endpoint}",
                                   f"give a branch, tag or commit listed at {page}/tree/main (e.g. main)")
    if isinstance(exc, hf.GatedRepoError):
        return HubAccessDenied(f"{repo_id} is a gated repo and this request may not read it",
                               f"accept its terms at {page}, then {_TOKEN_HINT}")
    if isinstance(exc, hf.RepositoryNotFoundError):
        return HubRepoNotFound(f"no model repo {repo_id} on {endpoint} (or it is private)",
                               f"check the name (owner/name); for a private repo {_TOKEN_HINT}")
    if isinstance(exc, hf.HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status in (401, 403):
            return HubAccessDenied(f"the Hub refused access to {repo_id} (HTTP {status})",
                                   f"{_TOKEN_HINT}; a fine-grained token needs read access to this repo")
        if isinstance(exc, hf.RemoteEntryNotFoundError):
            return HubDownloadFailed(f"a file of {repo_id} vanished from the Hub during the download",
                                     "run the download again")
        return HubError(f"the Hub at {endpoint} answered HTTP {status} for {repo_id}",
                        "try again later; https://status.huggingface.co shows outages" + resume)
    if _is_network_error(exc):
        if isinstance(exc, hf.OfflineModeIsEnabled) or any(
                isinstance(e, hf.OfflineModeIsEnabled) for e in _chain(exc)):
            return HubUnreachable("Hugging Face Hub access is off (HF_HUB_OFFLINE is set)",
                                  "unset HF_HUB_OFFLINE to download")
        return HubUnreachable(f"cannot reach the Hugging Face Hub at {endpoint}",
                              "check HF_ENDPOINT, your proxy settings (HTTPS_PROXY, NO_PROXY) and network" + resume)
    if isinstance(exc, ValueError) and "filename" in str(exc).lower():
        return UnsafeArtifact(f"the Hub lists an unsafe file name in {repo_id}", "refused: this repo is not safe to download")
    if isinstance(exc, OSError):
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return HubDownloadFailed(f"download of {repo_id} failed: {detail}",
                                 "check free disk space and the connection" + resume)
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return HubError(f"download of {repo_id} failed: {type(exc).__name__}" + (f": {detail}" if detail else ""),
                    "run with --debug for details")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _network_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [ConnectionError, TimeoutError]
    # huggingface_hub 2.x raises httpx2 errors, 1.x httpx ones, 0.x requests ones.
    for module, names in (("httpx2", ("TransportError", "TimeoutException")),
                          ("httpx", ("TransportError", "TimeoutException")),
                          ("requests", ("ConnectionError", "Timeout"))):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        types += [getattr(mod, n) for n in names if isinstance(getattr(mod, n, None), type)]
    return tuple(types)


def _is_network_error(exc: BaseException) -> bool:
    types = _network_error_types()
    return any(isinstance(e, types) for e in _chain(exc))


class FileCounter(Protocol):
    """What the caller's display needs: the number of files, then each one done."""

    def plan(self, total: int) -> None: ...

    def advance(self, n: int) -> None: ...


def _quiet_tqdm(counter: FileCounter | None) -> type:
    """huggingface_hub's file-count bar, silenced; its counts go to `counter` when there is one."""
    from tqdm.auto import tqdm

    class Quiet(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)
            kwargs["disable"] = True
            # huggingface_hub draws three bars (bytes sent, bytes written, files); only the files one counts here.
            self._counts = counter is not None and kwargs.get("unit", "it") != "B"
            super().__init__(*args, **kwargs)
            if self._counts and counter is not None and kwargs.get("total"):
                counter.plan(int(kwargs["total"]))

        def update(self, n: float | None = 1) -> bool | None:
            if self._counts and counter is not None:
                counter.advance(int(n or 0))
            return super().update(n)  # type: ignore[no-any-return]

    return Quiet
