"""Self-tests of tests/support/faultproxy.py against the real registry, with plain http.client and
httpx: every fault does what the fault suite relies on, and a clean proxy is invisible."""

from __future__ import annotations

import hashlib
import http.client
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.faultproxy import BLOB, MANIFEST, UPLOAD, FaultProxy
from tests.support.registry import RegistryServer

REPO = "proxytest/blobs"
SIZE = 2 << 20


def _with_digest(location: str, digest: str) -> str:
    """httpx's params= would drop the upload state the registry keeps in the query."""
    return location + ("&" if "?" in location else "?") + "digest=" + digest


@pytest.fixture(scope="module")
def blob(registry: RegistryServer) -> tuple[str, bytes]:
    """A 2 MiB random blob stored in the registry directly (not through the proxy)."""
    data = random.Random(7).randbytes(SIZE)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=registry.url) as c:
        r = c.post(f"/v2/{REPO}/blobs/uploads/")
        assert r.status_code == 202
        r = c.put(_with_digest(r.headers["Location"], digest), content=data)
        assert r.status_code == 201, r.text
    return digest, data


@pytest.fixture
def proxy(registry: RegistryServer) -> Iterator[FaultProxy]:
    with FaultProxy(registry.host, seed=1) as p:
        yield p


def _get(proxy: FaultProxy, path: str, method: str = "GET", timeout: float = 10) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)
    conn.request(method, path)
    return conn.getresponse(), conn


def test_a_clean_proxy_is_invisible_and_counts(proxy: FaultProxy, blob: tuple[str, bytes]) -> None:
    digest, data = blob
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    for _ in range(2):  # keep-alive: two requests on one connection
        conn.request("GET", f"/v2/{REPO}/blobs/{digest}")
        r = conn.getresponse()
        assert r.status == 200 and r.read() == data
    conn.request("HEAD", f"/v2/{REPO}/blobs/{digest}")
    r = conn.getresponse()
    assert r.status == 200 and int(r.getheader("Content-Length")) == SIZE and r.read() == b""
    conn.close()
    assert proxy.count("GET", "blob") == 2 and proxy.count("HEAD", "blob") == 1
    assert proxy.bytes_sent("blob") == 2 * SIZE
    print(f"counters: {proxy.counters()}")


def test_uploads_through_the_proxy_keep_the_proxy_in_location(proxy: FaultProxy, registry: RegistryServer) -> None:
    """Chunked PATCH (Transfer-Encoding: chunked), Content-Length PATCH, GET status, PUT: the
    registry's Location answers keep pointing at the proxy, and request bytes are counted."""
    data = random.Random(8).randbytes(300_000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=proxy.url, timeout=10) as c:
        r = c.post(f"/v2/{REPO}-up/blobs/uploads/")
        assert r.status_code == 202
        loc = r.headers["Location"]
        assert registry.host not in loc and loc.startswith(("/", proxy.url))

        def first() -> Iterator[bytes]:
            yield data[:100_000]
            yield data[100_000:200_000]

        r = c.patch(loc, content=first(), headers={"Content-Type": "application/octet-stream"})  # chunked body
        assert r.status_code == 202, r.text
        r = c.get(r.headers["Location"])
        assert r.status_code == 204 and r.headers["Range"] == "0-199999"
        r = c.patch(r.headers["Location"], content=data[200_000:],
                    headers={"Content-Range": "200000-299999", "Content-Type": "application/octet-stream"})
        assert r.status_code == 202, r.text
        r = c.put(_with_digest(r.headers["Location"], digest))
        assert r.status_code == 201, r.text
        assert registry.host not in r.headers["Location"]
        assert c.get(f"/v2/{REPO}-up/blobs/{digest}").content == data
    assert proxy.bytes_received("upload") == len(data)


def test_a_tls_probe_gets_a_protocol_error_not_a_hang(proxy: FaultProxy) -> None:
    start = time.monotonic()
    with pytest.raises((ssl.SSLError, ConnectionError)), socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as raw:
        ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")
    assert time.monotonic() - start < 2
    # The error pais reads as "this loopback port speaks plain HTTP".
    with httpx.Client(timeout=5) as c, pytest.raises(httpx.ConnectError, match="WRONG_VERSION_NUMBER|record layer|wrong version"):
        c.get(f"https://{proxy.host}/v2/")


def test_reset_after_n_response_bytes(proxy: FaultProxy, blob: tuple[str, bytes]) -> None:
    digest, data = blob
    proxy.reset(method="GET", path=BLOB, after=100_000, times=1)
    r, _ = _get(proxy, f"/v2/{REPO}/blobs/{digest}")
    assert r.status == 200
    got = b""
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead)):
        while chunk := r.read1(65536):
            got += chunk
        raise http.client.IncompleteRead(got)  # reached only if the end looked clean
    assert got == data[: len(got)] and len(got) <= 100_000
    assert proxy.bytes_sent("blob") == 100_000
    r, _ = _get(proxy, f"/v2/{REPO}/blobs/{digest}")  # times=1: the next one is clean
    assert r.read() == data


def test_reset_before_the_headers(proxy: FaultProxy, blob: tuple[str, bytes]) -> None:
    proxy.reset(path=BLOB, after=None)
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        _get(proxy, f"/v2/{REPO}/blobs/{blob[0]}")


def test_reset_after_n_request_bytes(proxy: FaultProxy) -> None:
    proxy.reset(method="PATCH", path=UPLOAD, after=200_000, direction="request")
    with httpx.Client(base_url=proxy.url, timeout=10) as c:
        loc = c.post(f"/v2/{REPO}-reset/blobs/uploads/").headers["Location"]
        with pytest.raises(httpx.TransportError):
            c.patch(loc, content=b"x" * 1_000_000)
    assert proxy.bytes_received("upload") == 200_000


def test_stall_before_headers_for_a_while_then_until_cleared(proxy: FaultProxy, blob: tuple[str, bytes]) -> None:
    digest, data = blob
    f = proxy.stall(path=BLOB, where="headers", seconds=1.0, times=1)
    start = time.monotonic()
    r, _ = _get(proxy, f"/v2/{REPO}/blobs/{digest}")
    assert r.read() == data and 0.9 < time.monotonic() - start < 5
    proxy.remove(f)
    proxy.stall(path=BLOB, where="headers")  # until cleared
    with pytest.raises(TimeoutError):
        _get(proxy, f"/v2/{REPO}/blobs/{digest}", timeout=0.5)
    proxy.clear()
    r, _ = _get(proxy, f"/v2/{REPO}/blobs/{digest}")
    assert r.read() == data


def test_stall_after_n_body_bytes(proxy: FaultProxy, blob: tuple[str, bytes]) -> None:
    digest, data = blob
    proxy.stall(path=BLOB, where="body", after=50_000, seconds=1.0)
    r, _ = _get(proxy, f"/v2/{REPO}/blobs/{digest}")
    t0 = time.monotonic()
    head = r.read(50_000)
    t1 = time.monotonic()
    rest = r.read()
    t2 = time.monotonic()
    assert head + rest == data
    assert t1 - t0 < 0.5 and t2 - t1 > 0.9
    print(f"first 50000 bytes in {t1 - t0:.3f}s, the rest after {t2 - t1:.3f}s")


def test_stop_ends_a_stall_at_once(registry: RegistryServer, blob: tuple[str, bytes]) -> None:
    proxy = FaultProxy(registry.host)
    proxy.stall(path=BLOB)
    result: list[object] = []

    def client() -> None:
        try:
            result.append(_get(proxy, f"/v2/{REPO}/blobs/{blob[0]}", timeout=30)[0].status)
        except Exception as exc:  # noqa: BLE001
            result.append(exc)

    t = threading.Thread(target=client)
    t.start()
    time.sleep(0.3)
    start = time.monotonic()
    proxy.stop()
    t.join(10)
    assert time.monotonic() - start < 3 and result and isinstance(result[0], Exception)


def test_status_answers_for_the_first_n_then_forwards(proxy: FaultProxy, blob: tuple[str, bytes]) -> None:
    digest, data = blob
    proxy.respond(429, path=BLOB, method="GET", times=2, retry_after="1")
    for _ in range(2):
        r, _ = _get(proxy, f"/v2/{REPO}/blobs/{digest}")
        assert r.status == 429 and r.getheader("Retry-After") == "1" and b"TOOMANYREQUESTS" in r.read()
    r, _ = _get(proxy, f"/v2/{REPO}/blobs/{digest}")
    assert r.status == 200 and r.read() == data
    assert proxy.count("GET", "blob") == 3


def test_status_for_a_seeded_fraction(registry: RegistryServer) -> None:
    def run() -> list[int]:
        with FaultProxy(registry.host, seed=42) as p:
            p.respond(503, path=r"^/v2/$", fraction=0.5)
            conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
            codes = []
            for _ in range(40):
                conn.request("GET", "/v2/")
                r = conn.getresponse()
                r.read()
                codes.append(r.status)
            return codes

    first, second = run(), run()
    assert first == second and 10 <= first.count(503) <= 30 and set(first) == {200, 503}


def test_throttle_response_and_request(proxy: FaultProxy, blob: tuple[str, bytes]) -> None:
    digest, data = blob
    f = proxy.throttle(1 << 20, path=BLOB)
    start = time.monotonic()
    r, _ = _get(proxy, f"/v2/{REPO}/blobs/{digest}")
    assert r.read() == data
    took = time.monotonic() - start
    assert 1.7 < took < 6, took  # 2 MiB at 1 MiB/s
    proxy.remove(f)
    proxy.throttle(1 << 20, path=UPLOAD, direction="request")
    with httpx.Client(base_url=proxy.url, timeout=20) as c:
        loc = c.post(f"/v2/{REPO}-thr/blobs/uploads/").headers["Location"]
        start = time.monotonic()
        assert c.patch(loc, content=b"y" * 700_000).status_code == 202
        took_up = time.monotonic() - start
    assert 0.6 < took_up < 5, took_up
    print(f"2 MiB down in {took:.2f}s, 700 kB up in {took_up:.2f}s at 1 MiB/s")


def test_truncate_keeping_content_length_breaks_the_connection(proxy: FaultProxy, blob: tuple[str, bytes]) -> None:
    digest, data = blob
    proxy.truncate(path=BLOB, after=123_456, times=1)
    r, _ = _get(proxy, f"/v2/{REPO}/blobs/{digest}")
    assert int(r.getheader("Content-Length")) == SIZE
    with pytest.raises(http.client.IncompleteRead) as info:
        r.read()
    assert info.value.partial == data[:123_456]


def test_truncate_with_a_consistent_short_length(proxy: FaultProxy, blob: tuple[str, bytes]) -> None:
    digest, data = blob
    proxy.truncate(path=BLOB, after=1000, keep_length=False)
    r, _ = _get(proxy, f"/v2/{REPO}/blobs/{digest}")
    assert int(r.getheader("Content-Length")) == 1000 and r.read() == data[:1000]


def test_flip_changes_exactly_one_byte(proxy: FaultProxy, blob: tuple[str, bytes]) -> None:
    digest, data = blob
    proxy.flip(path=BLOB, offset=SIZE - 5)
    r, _ = _get(proxy, f"/v2/{REPO}/blobs/{digest}")
    got = r.read()
    assert len(got) == SIZE and [i for i in range(SIZE) if got[i] != data[i]] == [SIZE - 5]


@pytest.mark.parametrize("chunked", [False, True])
def test_oversize_is_streamed_not_built(proxy: FaultProxy, registry: RegistryServer, blob: tuple[str, bytes], chunked: bool) -> None:
    """A 1 GiB manifest: the client reads 1 MiB and hangs up; the proxy stops soon after."""
    raw = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}'
    empty = b"{}"
    with httpx.Client(base_url=registry.url) as c:
        loc = c.post(f"/v2/{REPO}/blobs/uploads/").headers["Location"]
        c.put(_with_digest(loc, "sha256:" + hashlib.sha256(empty).hexdigest()), content=empty)
        r = c.put(f"/v2/{REPO}/manifests/big", content=raw, headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 201, r.text
    proxy.oversize(1 << 30, path=MANIFEST, chunked=chunked)
    r, conn = _get(proxy, f"/v2/{REPO}/manifests/big")
    assert (r.getheader("Content-Length") is None) == chunked
    if not chunked:
        assert int(r.getheader("Content-Length")) == 1 << 30
    head = r.read(1 << 20)
    assert head.startswith(b'{"schemaVersion":2') and len(head) == 1 << 20
    conn.sock.close() if conn.sock else None
    conn.close()
    time.sleep(0.5)
    assert proxy.bytes_sent("manifest") < 64 << 20
    print(f"proxy sent {proxy.bytes_sent('manifest')} bytes of a 1 GiB body before the client hung up")


def test_oversized_error_body(proxy: FaultProxy, blob: tuple[str, bytes]) -> None:
    proxy.respond(500, path=BLOB, body_size=500 << 20)
    r, conn = _get(proxy, f"/v2/{REPO}/blobs/{blob[0]}")
    assert r.status == 500 and int(r.getheader("Content-Length")) == 500 << 20
    assert r.read(100).startswith(b'{"errors":[{"code":"UNKNOWN"')
    conn.close()
