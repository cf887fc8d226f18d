"""A fault-injecting HTTP/1.1 proxy between `pais` and a real registry, for the fault suite.

It listens on 127.0.0.1 (a random port) and forwards to one plain-HTTP upstream, request by
request, keeping client connections alive. Faults are set at run time; each one matches by
method and a regular expression searched in the request target (path and query), and applies
to the first ``times`` matching requests, to a seeded-random ``fraction`` of them, or both::

    with FaultProxy(registry.host) as proxy:
        proxy.reset(method="GET", path=BLOB, after=1 << 20, times=1)    # RST after 1 MiB of body
        proxy.reset(method="PATCH", path=UPLOAD, after=1 << 20, direction="request")
        proxy.stall(path=BLOB, where="headers")                          # until cleared or stopped
        proxy.stall(path=BLOB, where="body", after=4096, seconds=3)
        proxy.respond(503, path=BLOB, times=2, retry_after="1")          # answered, not forwarded
        proxy.respond(500, path=BLOB, body_size=300 << 20)               # a huge error body
        proxy.throttle(2 << 20, direction="both")                        # 2 MiB/s, shared link
        proxy.truncate(path=BLOB, after=1000)                            # Content-Length kept, closed
        proxy.truncate(path=BLOB, after=1000, keep_length=False)         # a consistent short answer
        proxy.flip(path=BLOB, offset=12345)                              # one byte XOR 0xFF
        proxy.oversize(path=MANIFEST, size=300 << 20, chunked=True)      # streamed, never built
        ... proxy.counters() / proxy.bytes_sent("blob") / proxy.bytes_received("upload")

Counters are kept per path *kind* (``base``, ``manifest``, ``blob``, ``upload``, ``tags``,
``referrers``, ``other``): requests by (method, kind), request-body bytes forwarded upstream
per kind, response-body bytes sent to the client per kind. A test takes ``counters()`` before
and after a re-run and subtracts, to know what travelled again.

The registry builds absolute ``Location`` URLs from the ``Host`` header, which the proxy
passes through unchanged; an absolute ``Location`` naming the upstream is rewritten to the
proxy all the same. A TLS ClientHello (pais probes https first on loopback) is answered with a
plain ``400`` the way Go's servers do, so the client sees a protocol error and falls back to
HTTP. Standard library only; bounded: 128 connections, 64 KiB header lines, 256 headers.
"""

from __future__ import annotations

import http.client
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BLOB", "MANIFEST", "UPLOAD", "Fault", "FaultProxy", "path_kind"]

# Path regexes for the common cases (searched in the request target).
MANIFEST = r"/v2/.+/manifests/"
BLOB = r"/v2/.+/blobs/sha256:"
UPLOAD = r"/v2/.+/blobs/uploads/"

_MAX_LINE = 64 * 1024
_MAX_HEADERS = 256
_MAX_CONNECTIONS = 128
_IO_CHUNK = 64 * 1024
_HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect"}


def path_kind(target: str) -> str:
    path = target.split("?", 1)[0]
    if re.fullmatch(r"/v2/?", path):
        return "base"
    if "/blobs/uploads" in path:
        return "upload"
    if "/blobs/" in path:
        return "blob"
    if "/manifests/" in path:
        return "manifest"
    if path.endswith("/tags/list"):
        return "tags"
    if "/referrers/" in path:
        return "referrers"
    return "other"


class _Abort(Exception):
    """Stop handling this client connection (it was reset or closed on purpose)."""


@dataclass(eq=False)
class Fault:
    kind: str  # reset | stall | status | throttle | truncate | flip | oversize
    method: str | None = None  # a regex matched against the whole method ("PATCH|PUT"); None: any
    path: str = ".*"
    min_body: int = 0  # only requests whose Content-Length is at least this (chunked ones match)
    times: int | None = None  # apply to the first N matching requests (None: no limit)
    fraction: float | None = None  # apply to this share of matching requests (seeded RNG)
    direction: str = "response"  # response | request | both (throttle)
    after: int | None = 0  # bytes of body before the fault (reset: None = before the headers)
    where: str = "headers"  # stall: headers | body
    seconds: float | None = None  # stall: None = until cleared or the proxy stops
    status: int = 503
    retry_after: str | None = None
    body_size: int | None = None  # status: stream an error body of this size instead
    rate: int = 0  # throttle: bytes per second
    shared: bool = True  # throttle: one bucket for all matching requests (a link), else per request
    offset: int = 0  # flip
    keep_length: bool = True  # truncate: keep the upstream Content-Length (a broken connection)
    size: int = 0  # oversize
    chunked: bool = False  # oversize / status body: no Content-Length
    matched: int = 0
    applied: int = 0
    released: threading.Event = field(default_factory=threading.Event, repr=False)
    _bucket_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _bucket_next: float = 0.0

    def matches(self, method: str, target: str, length: int | None = None) -> bool:
        if self.method is not None and not re.fullmatch(self.method, method, re.IGNORECASE):
            return False
        if self.min_body and length is not None and length < self.min_body:
            return False
        return re.search(self.path, target) is not None

    def pace(self, n: int) -> None:
        """Throttle: wait until `n` more bytes may pass at `rate` bytes/s."""
        if self.rate <= 0:
            return
        with self._bucket_lock:
            now = time.monotonic()
            start = max(now, self._bucket_next)
            self._bucket_next = start + n / self.rate
            wait = self._bucket_next - now
        if wait > 0:
            self.released.wait(wait)


class _Plan:
    """The faults that apply to one request."""

    def __init__(self, faults: list[Fault]) -> None:
        self.faults = faults

    def first(self, kind: str, direction: str | None = None) -> Fault | None:
        for f in self.faults:
            if f.kind == kind and (direction is None or f.direction in (direction, "both")):
                return f
        return None

    def throttles(self, direction: str) -> list[Fault]:
        return [f for f in self.faults if f.kind == "throttle" and f.direction in (direction, "both")]


class FaultProxy:
    def __init__(self, upstream: str, seed: int = 0, upstream_timeout: float = 60.0) -> None:
        """`upstream` is "host:port" of a plain-HTTP server (a RegistryServer's .host)."""
        self.upstream_host, _, port = upstream.rpartition(":")
        self.upstream_port = int(port)
        self.upstream = upstream
        self.upstream_timeout = upstream_timeout
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(_MAX_CONNECTIONS)
        self._clients: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.connections = 0  # accepted from clients
        self.request_bytes: Counter[str] = Counter()
        self.response_bytes: Counter[str] = Counter()
        self.log: list[tuple[str, str, int]] = []  # (method, target, status) of answered requests, bounded
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)  # so the accept loop notices stop() promptly
        self.port: int = self._listener.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"faultproxy-{self.port}", daemon=True)
        self._acceptor.start()

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> FaultProxy:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.clear()
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            clients = list(self._clients)
            threads = list(self._threads)
        for sock in clients:
            try:  # wakes a thread blocked reading from it; the thread closes it
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._acceptor.join(timeout=5)
        for t in threads:
            t.join(timeout=5)

    # -- faults ------------------------------------------------------------------------------
    def add(self, kind: str, **params: Any) -> Fault:
        fault = Fault(kind, **params)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault; stalls in progress end (their connections are closed)."""
        with self._lock:
            faults, self._faults = self._faults, []
        for f in faults:
            f.released.set()

    def remove(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)
        fault.released.set()

    def reset(self, after: int | None = 0, direction: str = "response", **match: Any) -> Fault:
        return self.add("reset", after=after, direction=direction, **match)

    def stall(self, where: str = "headers", after: int = 0, seconds: float | None = None, direction: str = "response", **match: Any) -> Fault:
        return self.add("stall", where=where, after=after, seconds=seconds, direction=direction, **match)

    def respond(self, status: int, retry_after: str | None = None, body_size: int | None = None, chunked: bool = False, **match: Any) -> Fault:
        return self.add("status", status=status, retry_after=retry_after, body_size=body_size, chunked=chunked, **match)

    def throttle(self, rate: int, direction: str = "response", shared: bool = True, **match: Any) -> Fault:
        return self.add("throttle", rate=rate, direction=direction, shared=shared, **match)

    def truncate(self, after: int, keep_length: bool = True, direction: str = "response", **match: Any) -> Fault:
        return self.add("truncate", after=after, keep_length=keep_length, direction=direction, **match)

    def flip(self, offset: int = 0, direction: str = "response", **match: Any) -> Fault:
        return self.add("flip", offset=offset, direction=direction, **match)

    def oversize(self, size: int, chunked: bool = False, **match: Any) -> Fault:
        return self.add("oversize", size=size, chunked=chunked, **match)

    def _plan(self, method: str, target: str, length: int | None = None) -> _Plan:
        chosen: list[Fault] = []
        with self._lock:
            for f in self._faults:
                if not f.matches(method, target, length):
                    continue
                f.matched += 1
                if f.times is not None and f.applied >= f.times:
                    continue
                if f.fraction is not None and self._rng.random() >= f.fraction:
                    continue
                f.applied += 1
                chosen.append(f)
        return _Plan(chosen)

    # -- counters ----------------------------------------------------------------------------
    def counters(self) -> dict[str, Counter[Any]]:
        with self._lock:
            return {"requests": Counter(self.requests), "request_bytes": Counter(self.request_bytes),
                    "response_bytes": Counter(self.response_bytes)}

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.request_bytes.clear()
            self.response_bytes.clear()
            self.log.clear()
            self.connections = 0

    def bytes_sent(self, kind: str = "blob") -> int:
        """Response-body bytes sent to the client for requests of this kind."""
        with self._lock:
            return self.response_bytes[kind]

    def bytes_received(self, kind: str = "upload") -> int:
        """Request-body bytes forwarded to the upstream for requests of this kind."""
        with self._lock:
            return self.request_bytes[kind]

    def count(self, method: str | None = None, kind: str | None = None) -> int:
        with self._lock:
            return sum(n for (m, k), n in self.requests.items() if method in (None, m) and kind in (None, k))

    def _add(self, counter: Counter[str], kind: str, n: int) -> None:
        with self._lock:
            counter[kind] += n

    # -- serving -----------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            with self._lock:
                self.connections += 1
            if not self._slots.acquire(timeout=10):
                _hard_close(sock)
                continue
            t = threading.Thread(target=self._serve_client, args=(sock,), daemon=True)
            with self._lock:
                self._clients.add(sock)
                self._threads.add(t)
            t.start()

    def _serve_client(self, sock: socket.socket) -> None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rfile = sock.makefile("rb", buffering=_IO_CHUNK)
            first = rfile.peek(1)[:1]  # type: ignore[attr-defined]
            if first == b"\x16":  # a TLS handshake on a plain-HTTP port: what Go's servers answer
                sock.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
                return
            while not self._stopping.is_set():
                request = _read_head(rfile)
                if request is None:
                    return
                # A fresh upstream connection per request: never a stale keep-alive one.
                upstream = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=self.upstream_timeout)
                try:
                    keep = self._handle(sock, rfile, upstream, *request)
                finally:
                    upstream.close()
                if not keep:
                    return
        except (_Abort, OSError, http.client.HTTPException, ValueError):
            return
        finally:
            _hard_close(sock, graceful=True)
            with self._lock:
                self._clients.discard(sock)
                self._threads.discard(threading.current_thread())
            self._slots.release()

    def _handle(self, sock: socket.socket, rfile: Any, upstream: http.client.HTTPConnection,
                method: str, target: str, version: str, headers: list[tuple[str, str]]) -> bool:
        kind = path_kind(target)
        with self._lock:
            self.requests[(method, kind)] += 1
        hdr = {k.lower(): v for k, v in headers}
        chunked_request = "chunked" in hdr.get("transfer-encoding", "").lower()
        plan = self._plan(method, target, None if chunked_request else int(hdr.get("content-length") or 0))
        client_close = hdr.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        body = _request_body(rfile, hdr)

        stall = plan.first("stall")
        if stall is not None and stall.where == "headers" and stall.direction != "request":
            self._stall(stall)

        status_fault = plan.first("status")
        if status_fault is not None:
            for _ in body:  # drained, not forwarded
                pass
            self._answer_status(sock, method, target, kind, status_fault)
            return not client_close

        # Forward the request.
        upstream.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for k, v in headers:
            if k.lower() in _HOP_HEADERS or k.lower() == "content-length":
                continue
            upstream.putheader(k, v)
        length = hdr.get("content-length")
        chunked_in = "chunked" in hdr.get("transfer-encoding", "").lower()
        if chunked_in:
            upstream.putheader("Transfer-Encoding", "chunked")
        elif length is not None:
            upstream.putheader("Content-Length", length)
        upstream.endheaders()
        self._forward_request_body(sock, upstream, body, plan, kind, chunked_in)

        response = upstream.getresponse()
        return self._forward_response(sock, upstream, response, method, target, kind, plan, client_close)

    def _stall(self, fault: Fault) -> None:
        fault.released.wait(fault.seconds)
        if self._stopping.is_set() or (fault.seconds is None) or fault.released.is_set():
            raise _Abort

    def _forward_request_body(self, sock: socket.socket, upstream: http.client.HTTPConnection, body: Iterator[bytes],
                              plan: _Plan, kind: str, chunked: bool) -> None:
        reset = plan.first("reset", "request")
        stall = plan.first("stall", "request")
        flip = plan.first("flip", "request")
        throttles = plan.throttles("request")
        sent = 0
        for piece in body:
            for part in _slices(piece, throttles):
                if reset is not None and reset.after is not None and sent + len(part) > reset.after:
                    part = part[: reset.after - sent]
                    self._send_up(upstream, part, chunked)
                    self._add(self.request_bytes, kind, len(part))
                    upstream.close()
                    _hard_close(sock)
                    raise _Abort
                if stall is not None and stall.after is not None and sent + len(part) > stall.after:
                    self._stall(stall)
                    stall = None
                part = _flipped(part, sent, flip)
                for t in throttles:
                    t.pace(len(part))
                self._send_up(upstream, part, chunked)
                sent += len(part)
                self._add(self.request_bytes, kind, len(part))
        if chunked:
            upstream.send(b"0\r\n\r\n")

    @staticmethod
    def _send_up(upstream: http.client.HTTPConnection, data: bytes, chunked: bool) -> None:
        if not data:
            return
        upstream.send(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)

    def _answer_status(self, sock: socket.socket, method: str, target: str, kind: str, fault: Fault) -> None:
        reason = http.client.responses.get(fault.status, "Error")
        code = {429: "TOOMANYREQUESTS", 500: "UNKNOWN", 502: "UNAVAILABLE", 503: "UNAVAILABLE"}.get(fault.status, "DENIED")
        head = [f"HTTP/1.1 {fault.status} {reason}", "Content-Type: application/json"]
        if fault.retry_after is not None:
            head.append(f"Retry-After: {fault.retry_after}")
        if fault.body_size is not None:
            size = fault.body_size
            body: Iterator[bytes] = _filler(size, b'{"errors":[{"code":"' + code.encode() + b'","message":"')
        else:
            data = b'{"errors":[{"code":"%s","message":"injected by the fault proxy"}]}' % code.encode()
            size, body = len(data), iter([data])
        chunked = fault.chunked and fault.body_size is not None
        head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if method != "HEAD":
            for piece in body:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                self._add(self.response_bytes, kind, len(piece))
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        self._record(method, target, fault.status)

    def _forward_response(self, sock: socket.socket, upstream: http.client.HTTPConnection, response: http.client.HTTPResponse,
                          method: str, target: str, kind: str, plan: _Plan, client_close: bool) -> bool:
        reset = plan.first("reset", "response")
        stall = plan.first("stall", "response")
        if stall is not None and stall.where != "body":
            stall = None
        truncate = plan.first("truncate", "response")
        flip = plan.first("flip", "response")
        oversize = plan.first("oversize")
        throttles = plan.throttles("response")
        has_body = method != "HEAD" and response.status not in (204, 304) and not 100 <= response.status < 200

        if reset is not None and reset.after is None:
            upstream.close()
            _hard_close(sock)
            raise _Abort

        out_headers: list[tuple[str, str]] = []
        length = response.getheader("Content-Length")
        for k, v in response.getheaders():
            lk = k.lower()
            if lk in _HOP_HEADERS or lk == "content-length":
                continue
            if lk == "location":
                v = self._rewrite_location(v)
            out_headers.append((k, v))
        chunked_out = False
        body: Iterator[bytes] = _read_response(response) if has_body else iter(())
        if oversize is not None and has_body:
            for _ in body:
                pass
            body = _filler(oversize.size, b'{"schemaVersion":2,"padding":"')
            length = None if oversize.chunked else str(oversize.size)
        if truncate is not None and not truncate.keep_length and length is not None:
            length = str(min(int(length), truncate.after or 0))
        if length is not None:
            out_headers.append(("Content-Length", length))
        elif has_body:
            out_headers.append(("Transfer-Encoding", "chunked"))
            chunked_out = True
        close_after = client_close
        if close_after:
            out_headers.append(("Connection", "close"))
        head = f"HTTP/1.1 {response.status} {response.reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in out_headers) + "\r\n"
        sock.sendall(head.encode("latin-1"))

        sent = 0
        if has_body:
            for piece in body:
                for part in _slices(piece, throttles):
                    end = sent + len(part)
                    if reset is not None and reset.after is not None and end > reset.after:
                        self._send_down(sock, part[: reset.after - sent], chunked_out, kind)
                        upstream.close()
                        _hard_close(sock)
                        raise _Abort
                    if truncate is not None and end > (truncate.after or 0):
                        self._send_down(sock, part[: (truncate.after or 0) - sent], chunked_out, kind)
                        upstream.close()
                        if not truncate.keep_length:
                            if chunked_out:
                                sock.sendall(b"0\r\n\r\n")
                            self._record(method, target, response.status)
                            return False  # a short but well-framed answer; the connection ends
                        raise _Abort  # Content-Length promised more: FIN mid-body
                    if stall is not None and end > (stall.after or 0):
                        head_part = part[: (stall.after or 0) - sent]
                        self._send_down(sock, head_part, chunked_out, kind)
                        sent += len(head_part)
                        part = part[len(head_part):]
                        self._stall(stall)
                        stall = None
                    part = _flipped(part, sent, flip)
                    for t in throttles:
                        t.pace(len(part))
                    self._send_down(sock, part, chunked_out, kind)
                    sent += len(part)
            if chunked_out:
                sock.sendall(b"0\r\n\r\n")
        self._record(method, target, response.status)
        return not close_after

    def _send_down(self, sock: socket.socket, data: bytes, chunked: bool, kind: str) -> None:
        if not data:
            return
        sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
        self._add(self.response_bytes, kind, len(data))

    def _rewrite_location(self, value: str) -> str:
        for prefix in (f"http://{self.upstream}", f"https://{self.upstream}"):
            if value.startswith(prefix):
                return f"http://{self.host}" + value[len(prefix):]
        return value

    def _record(self, method: str, target: str, status: int) -> None:
        with self._lock:
            if len(self.log) < 100_000:
                self.log.append((method, target, status))


# -- helpers -------------------------------------------------------------------------------
def _flipped(part: bytes, sent: int, flip: Fault | None) -> bytes:
    """`part` (starting at stream offset `sent`) with the byte at the fault's offset inverted."""
    if flip is None or not sent <= flip.offset < sent + len(part):
        return part
    i = flip.offset - sent
    return part[:i] + bytes([part[i] ^ 0xFF]) + part[i + 1:]


def _hard_close(sock: socket.socket, graceful: bool = False) -> None:
    """Close; unless graceful, with SO_LINGER 0 so the peer sees a reset (RST), not a FIN."""
    try:
        if not graceful:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


def _read_line(rfile: Any) -> bytes:
    line: bytes = rfile.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise ValueError("line too long")
    return line


def _read_head(rfile: Any) -> tuple[str, str, str, list[tuple[str, str]]] | None:
    line = _read_line(rfile)
    while line in (b"\r\n", b"\n"):
        line = _read_line(rfile)
    if not line:
        return None
    parts = line.decode("latin-1").strip().split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError("not an HTTP/1.x request")
    headers: list[tuple[str, str]] = []
    while True:
        h = _read_line(rfile)
        if h in (b"\r\n", b"\n", b""):
            break
        if len(headers) >= _MAX_HEADERS:
            raise ValueError("too many headers")
        name, _, value = h.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    return parts[0].upper(), parts[1], parts[2], headers


def _request_body(rfile: Any, hdr: dict[str, str]) -> Iterator[bytes]:
    if "chunked" in hdr.get("transfer-encoding", "").lower():
        while True:
            size_line = _read_line(rfile)
            if not size_line:
                raise _Abort
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while _read_line(rfile) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            left = size
            while left:
                data = rfile.read1(min(left, _IO_CHUNK))
                if not data:
                    raise _Abort
                left -= len(data)
                yield data
            _read_line(rfile)
    else:
        left = int(hdr.get("content-length") or 0)
        while left:
            data = rfile.read1(min(left, _IO_CHUNK))
            if not data:
                raise _Abort
            left -= len(data)
            yield data


def _read_response(response: http.client.HTTPResponse) -> Iterator[bytes]:
    while True:
        data = response.read1(_IO_CHUNK)
        if not data:
            return
        yield data


def _slices(piece: bytes, throttles: list[Fault]) -> Iterator[bytes]:
    """Cut into slices small enough that a throttle paces smoothly (about 20 per second)."""
    if not throttles:
        yield piece
        return
    step = max(1024, min(t.rate for t in throttles) // 20)
    for i in range(0, len(piece), step):
        yield piece[i:i + step]


def _filler(size: int, prefix: bytes) -> Iterator[bytes]:
    """`size` bytes that start like JSON and never end it, made on the fly in 64 KiB pieces."""
    head = prefix[:size]
    yield head
    left = size - len(head)
    block = b"A" * _IO_CHUNK
    while left > 0:
        n = min(left, _IO_CHUNK)
        yield block[:n]
        left -= n
