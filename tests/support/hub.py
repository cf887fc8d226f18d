"""A fake Hugging Face Hub on 127.0.0.1, for tests and demos.

The real Hub cannot be reached from here, so this server answers the requests huggingface_hub
2.4.0 makes for ``snapshot_download`` / ``hf_hub_download`` / ``HfApi.model_info`` of model repos,
the way the Hub documents and answers them as that library consumes them (read from its source:
``hf_api.py``, ``file_download.py``, ``utils/_http.py``):

Hub origin (``hub.url``, the value for HF_ENDPOINT)

* ``GET /api/models/{repo}`` and ``GET /api/models/{repo}/revision/{rev}`` (rev URL-quoted, so
  ``refs%2Fpr%2F1`` works): model info with ``id``, ``sha`` (the commit the revision names),
  ``siblings`` ``[{"rfilename"}]``; with ``?blobs=true`` each sibling also has ``size``,
  ``blobId`` and for LFS files ``lfs: {"sha256", "size", "pointerSize"}``.
* ``GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=true|false``: ``[{"type": "file",
  "oid", "size", "path", "lfs": {"oid", "size", "pointerSize"}}, {"type": "directory", ...}]``,
  paginated with a ``Link: <...>; rel="next"`` header (``tree_page_size``).
* ``HEAD|GET /{repo}/resolve/{rev}/{path}``: regular files answer 200 with ``ETag: "<git blob
  sha1>"``, ``X-Repo-Commit``, ``Content-Length`` (and the bytes, with ``Range`` support); LFS
  files answer ``302`` to the CDN origin with ``X-Linked-Etag: "<sha256>"``,
  ``X-Linked-Size``, ``X-Repo-Commit`` (their own ``ETag`` is a weak one of the redirect body,
  as on the Hub, so a client that ignored ``X-Linked-Etag`` would record the wrong digest).
* Errors carry ``X-Error-Code`` / ``X-Error-Message`` as the Hub sends them and
  ``hf_raise_for_status`` maps them: unknown repo ``401`` (no token) / ``404`` (token)
  ``RepoNotFound``; unknown revision ``404 RevisionNotFound``; unknown file ``404
  EntryNotFound`` (with ``X-Repo-Commit``); gated repo files ``401`` (no token) / ``403`` (token
  without access) ``GatedRepo`` (gated repos' info and tree are public, as on the Hub); private
  repos behave as unknown to anyone without an allowed token.

CDN origin (``hub.cdn_url``, another port, so it is another origin as on the Hub)

* ``GET /repos/{sha256}?Expires=..&Signature=..``: the LFS bytes (signed URL; ``Range``
  supported). Like S3 with a signed URL, it answers 400 to requests that carry an
  ``Authorization`` header: the token must not leave the Hub.

Not served: Xet storage (no ``X-Xet-Hash`` headers, so huggingface_hub downloads LFS files over
plain HTTP even with hf_xet installed), uploads, datasets and spaces.

Content is given as a dict of files (bytes) per commit; a file is LFS when its name matches
`lfs_patterns` or its size reaches `lfs_threshold`, as ``.gitattributes`` would decide.
``faults[sha256] = "truncate"`` serves the first half of a file's bytes (with a matching
Content-Length), to test that a failed download leaves no partial file; ``"corrupt"`` serves the
right number of wrong bytes, which only a content check notices.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import http.server
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

__all__ = ["FakeHub", "HubFile", "git_blob_sha1", "lfs_pointer"]


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    """The pointer file git-lfs commits in place of the content."""
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\n"
            f"size {len(data)}\n").encode()


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    sha256: str  # of the content
    lfs: bool
    blob_id: str  # git blob sha1 of what is committed: the content, or the LFS pointer
    pointer_size: int | None = None

    def sibling(self, blobs: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"rfilename": self.path}
        if blobs:
            out.update(blobId=self.blob_id, size=self.size)
            if self.lfs:
                out["lfs"] = {"sha256": self.sha256, "size": self.size, "pointerSize": self.pointer_size}
        return out

    def tree_entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "file", "oid": self.blob_id, "size": self.size, "path": self.path}
        if self.lfs:
            out["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": self.pointer_size}
        return out


@dataclass
class _Repo:
    repo_id: str
    commits: dict[str, dict[str, HubFile]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit
    gated: bool = False
    private: bool = False
    tokens: set[str] = field(default_factory=set)  # tokens allowed to read (gated / private)
    created: float = field(default_factory=time.time)


class FakeHub:
    """Threaded HTTP servers (hub + CDN) on free ports of 127.0.0.1. Use as a context manager."""

    def __init__(self, lfs_patterns: tuple[str, ...] = ("*.safetensors", "*.bin", "*.gguf", "*.pt", "*.onnx"),
                 lfs_threshold: int = 10 * 1024 * 1024, tree_page_size: int = 1000) -> None:
        self.lfs_patterns = lfs_patterns
        self.lfs_threshold = lfs_threshold
        self.tree_page_size = tree_page_size
        self.repos: dict[str, _Repo] = {}
        self.blobs: dict[str, bytes] = {}  # content sha256 -> bytes
        self.faults: dict[str, str] = {}  # content sha256 -> "truncate" | "corrupt"
        self.requests: list[tuple[str, str, str, bool]] = []  # (origin, method, path, had Authorization)
        self._secret = hashlib.sha256(str(time.time_ns()).encode()).digest()
        self._lock = threading.Lock()
        self._hub = _Server(self, "hub")
        self._cdn = _Server(self, "cdn")
        self.url = f"http://127.0.0.1:{self._hub.server_address[1]}"
        self.cdn_url = f"http://127.0.0.1:{self._cdn.server_address[1]}"
        self._threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
                         for s in (self._hub, self._cdn)]
        for t in self._threads:
            t.start()

    # ---- content

    def is_lfs(self, path: str, data: bytes) -> bool:
        name = path.rsplit("/", 1)[-1]
        return len(data) >= self.lfs_threshold or any(fnmatch.fnmatch(name, p) for p in self.lfs_patterns)

    def commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main", tags: tuple[str, ...] = (),
               *, gated: bool | None = None, private: bool | None = None, tokens: tuple[str, ...] = ()) -> str:
        """Commit `files` (the whole tree) on `branch`, creating the repo if needed; return the commit sha."""
        with self._lock:
            repo = self.repos.setdefault(repo_id, _Repo(repo_id))
            if gated is not None:
                repo.gated = gated
            if private is not None:
                repo.private = private
            repo.tokens.update(tokens)
            tree: dict[str, HubFile] = {}
            for path, data in sorted(files.items()):
                sha = hashlib.sha256(data).hexdigest()
                self.blobs[sha] = data
                if self.is_lfs(path, data):
                    pointer = lfs_pointer(data)
                    tree[path] = HubFile(path, len(data), sha, True, git_blob_sha1(pointer), len(pointer))
                else:
                    tree[path] = HubFile(path, len(data), sha, False, git_blob_sha1(data))
            parent = repo.refs.get(branch, "")
            listing = "".join(f"{f.path}\0{f.blob_id}\n" for f in tree.values())
            sha = hashlib.sha1(f"{repo_id}\n{parent}\n{len(repo.commits)}\n{listing}".encode()).hexdigest()
            repo.commits[sha] = tree
            repo.refs[branch] = sha
            for tag in tags:
                repo.refs[tag] = sha
            return sha

    def stop(self) -> None:
        for s in (self._hub, self._cdn):
            s.shutdown()
            s.server_close()

    def __enter__(self) -> FakeHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- helpers for the handler

    def sign(self, sha256: str, expires: int) -> str:
        return hmac.new(self._secret, f"{sha256}:{expires}".encode(), "sha256").hexdigest()

    def resolve(self, repo: _Repo, revision: str) -> str | None:
        if revision in repo.refs:
            return repo.refs[revision]
        if re.fullmatch(r"[0-9a-f]{40}", revision) and revision in repo.commits:
            return revision
        return None


_REPO = r"(?P<repo>[^/]+(?:/[^/]+)?)"
_API = re.compile(rf"^/api/models/{_REPO}(?:/(?P<kind>revision|tree)/(?P<rev>[^/]+)(?:/(?P<path>.*))?)?$")
_RESOLVE = re.compile(rf"^/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_CDN = re.compile(r"^/repos/(?P<sha>[0-9a-f]{64})$")


class _Refused(Exception):
    def __init__(self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, hub: FakeHub, origin: str) -> None:
        self.hub, self.origin = hub, origin
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    # ---- plumbing

    def _dispatch(self, head: bool) -> None:
        hub = self.server.hub
        url = urlsplit(self.path)
        hub.requests.append((self.server.origin, self.command, url.path, "Authorization" in self.headers))
        try:
            if self.server.origin == "cdn":
                self._cdn(url.path, parse_qs(url.query), head)
            else:
                self._hub(url.path, parse_qs(url.query), head)
        except _Refused as r:
            body = json.dumps({"error": r.message}).encode()
            headers = {"Content-Type": "application/json; charset=utf-8", **r.headers}
            if r.code:
                headers["X-Error-Code"] = r.code
                headers["X-Error-Message"] = r.message
            self._send(r.status, headers, body, head)

    def _send(self, status: int, headers: dict[str, str], body: bytes, head: bool) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def _repo(self, repo_id: str, files: bool) -> _Repo:
        """The repo, or the refusal the Hub gives this caller."""
        hub = self.server.hub
        token = self._token()
        repo = hub.repos.get(repo_id)
        if repo is not None and repo.private and token not in repo.tokens:
            repo = None  # private repos do not exist for outsiders
        if repo is None:
            # Without a token the Hub answers 401 (it will not say whether the repo exists).
            raise _Refused(401 if token is None else 404, "RepoNotFound", "Repository not found")
        if files and repo.gated and token not in repo.tokens:
            if token is None:
                raise _Refused(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access "
                                                 "to it and be authenticated to access it. Please log in.")
            raise _Refused(403, "GatedRepo", f"Access to model {repo_id} is restricted and you are not in the "
                                             "authorized list. Visit the repo page to ask for access.")
        return repo

    def _commit(self, repo: _Repo, revision: str) -> str:
        commit = self.server.hub.resolve(repo, revision)
        if commit is None:
            raise _Refused(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return commit

    # ---- hub origin

    def _hub(self, path: str, query: dict[str, list[str]], head: bool) -> None:
        if m := _API.match(path):
            if head:
                raise _Refused(405, None, "Method not allowed")
            repo = self._repo(unquote(m["repo"]), files=False)
            if m["kind"] == "tree":
                self._tree(repo, unquote(m["rev"]), unquote(m["path"] or ""), query)
            else:
                self._info(repo, unquote(m["rev"]) if m["rev"] else "main", query)
            return
        if m := _RESOLVE.match(path):
            self._resolve(unquote(m["repo"]), unquote(m["rev"]), unquote(m["path"]), head)
            return
        raise _Refused(404, None, "Sorry, we can't find the page you are looking for.")

    def _json(self, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj).encode()
        self._send(200, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, body, False)

    def _info(self, repo: _Repo, revision: str, query: dict[str, list[str]]) -> None:
        commit = self._commit(repo, revision)
        tree = repo.commits[commit]
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(repo.created))
        self._json({
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id, "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0] if "/" in repo.repo_id else None,
            "sha": commit, "lastModified": stamp, "createdAt": stamp,
            "private": repo.private, "gated": "manual" if repo.gated else False, "disabled": False,
            "downloads": 0, "likes": 0, "tags": ["safetensors"], "library_name": "transformers",
            "siblings": [f.sibling(blobs) for f in tree.values()],
            "usedStorage": sum(f.size for f in tree.values()),
        })

    def _tree(self, repo: _Repo, revision: str, folder: str, query: dict[str, list[str]]) -> None:
        hub = self.server.hub
        commit = self._commit(repo, revision)
        tree = repo.commits[commit]
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        prefix = folder.strip("/") + "/" if folder.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in tree):
            raise _Refused(404, "EntryNotFound", f"{folder} does not exist on \"{revision}\"",
                           {"X-Repo-Commit": commit})
        entries: list[dict[str, Any]] = []
        dirs: set[str] = set()
        for p, f in tree.items():
            if not p.startswith(prefix):
                continue
            rest = p[len(prefix):].split("/")
            for i in range(1, len(rest)):
                d = prefix + "/".join(rest[:i])
                if d not in dirs and (recursive or i == 1):
                    dirs.add(d)
                    entries.append({"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d})
            if recursive or len(rest) == 1:
                entries.append(f.tree_entry())
        start = int(query.get("cursor", ["0"])[0])
        page = entries[start:start + hub.tree_page_size]
        headers = {}
        if start + hub.tree_page_size < len(entries):
            params = {"recursive": str(recursive).lower(), "expand": "false", "cursor": start + hub.tree_page_size}
            next_url = f"{hub.url}/api/models/{repo.repo_id}/tree/{quote(revision, safe='')}"
            next_url += ("/" + quote(folder, safe="") if folder else "") + "?" + urlencode(params)
            headers["Link"] = f'<{next_url}>; rel="next"'
        self._json(page, headers)

    def _resolve(self, repo_id: str, revision: str, path: str, head: bool) -> None:
        hub = self.server.hub
        repo = self._repo(repo_id, files=True)
        commit = self._commit(repo, revision)
        f = repo.commits[commit].get(path)
        if f is None:
            raise _Refused(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": commit})
        common = {"X-Repo-Commit": commit, "Accept-Ranges": "bytes", "Vary": "Origin, Accept"}
        if f.lfs:
            expires = int(time.time()) + 3600
            location = (f"{hub.cdn_url}/repos/{f.sha256}?"
                        + urlencode({"response-content-disposition": f"attachment; filename*=UTF-8''{quote(path.rsplit('/', 1)[-1])}",
                                     "Expires": expires, "Signature": hub.sign(f.sha256, expires)}))
            body = f"Found. Redirecting to {location}".encode()
            self._send(302, {**common, "Location": location, "Content-Type": "text/plain; charset=utf-8",
                             "ETag": f'W/"{len(body):x}-{hashlib.sha1(body).hexdigest()[:27]}"',
                             "X-Linked-Etag": f'"{f.sha256}"', "X-Linked-Size": str(f.size)}, body, head)
            return
        self._bytes(f.sha256, {**common, "ETag": f'"{f.blob_id}"', "Content-Type": "application/octet-stream",
                               "Content-Disposition": f"inline; filename*=UTF-8''{quote(path.rsplit('/', 1)[-1])}"}, head)

    # ---- CDN origin

    def _cdn(self, path: str, query: dict[str, list[str]], head: bool) -> None:
        hub = self.server.hub
        m = _CDN.match(path)
        if m is None or m["sha"] not in hub.blobs:
            raise _Refused(404, None, "NoSuchKey")
        if "Authorization" in self.headers:
            raise _Refused(400, None, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                                      "Signature query string parameter or the Authorization header should be specified")
        try:
            expires = int(query["Expires"][0])
            signature = query["Signature"][0]
        except (KeyError, ValueError):
            raise _Refused(403, None, "AccessDenied") from None
        if expires < time.time() or not hmac.compare_digest(signature, hub.sign(m["sha"], expires)):
            raise _Refused(403, None, "AccessDenied")
        disposition = query.get("response-content-disposition", ["attachment"])[0]
        self._bytes(m["sha"], {"ETag": f'"{m["sha"]}"', "Content-Type": "application/octet-stream",
                               "Content-Disposition": disposition}, head)

    def _bytes(self, sha256: str, headers: dict[str, str], head: bool) -> None:
        """The blob, whole or a Range of it; cut short when the test asked for it."""
        hub = self.server.hub
        data = hub.blobs[sha256]
        status, total = 200, len(data)
        rng = self.headers.get("Range")
        if rng and (m := re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())):
            first = int(m[1])
            last = min(int(m[2]) if m[2] else total - 1, total - 1)
            if first >= total:
                raise _Refused(416, None, "Requested Range Not Satisfiable", {"Content-Range": f"bytes */{total}"})
            data = data[first:last + 1]
            status = 206
            headers = {**headers, "Content-Range": f"bytes {first}-{last}/{total}"}
        fault = None if head else hub.faults.get(sha256)
        if fault == "truncate":
            data = data[: len(data) // 2]  # a well-formed response that is simply too short
        elif fault == "corrupt" and data:
            data = data[:-1] + bytes([data[-1] ^ 0x01])  # right size, wrong bytes
        self._send(status, {**headers, "Content-Length": str(len(data) if not head else total)}, data, head)
