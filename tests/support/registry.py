"""Start a real CNCF distribution registry (``docker-registry`` 2.8) for tests.

Three variants are supported:

* ``plain``     -- HTTP, no auth.
* ``tls_basic`` -- HTTPS with a generated CA + server certificate and htpasswd
  (bcrypt) basic auth.
* ``token``     -- HTTP with distribution's bearer-token auth, backed by a small
  token service (:class:`TokenService`) that runs in a background thread.

Only the standard library and ``cryptography`` are used, so the module works
both from pytest fixtures and from standalone benchmark scripts::

    with start_registry("token", tmp_path) as reg:
        ...  # reg.url, reg.username, reg.password, reg.token_service.token_requests
"""

from __future__ import annotations

import atexit
import base64
import datetime as _dt
import hmac
import http.server
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "REGISTRY_BIN",
    "HTPASSWD_BIN",
    "VARIANTS",
    "RegistryServer",
    "TokenService",
    "free_port",
    "start_registry",
]

REGISTRY_BIN = os.environ.get("PAIS_TEST_REGISTRY_BIN", "/usr/bin/docker-registry")
HTPASSWD_BIN = os.environ.get("PAIS_TEST_HTPASSWD_BIN", "/usr/bin/htpasswd")
VARIANTS = ("plain", "tls_basic", "token")

_STARTUP_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 5.0
_TOKEN_TTL_S = 300

# Ports handed out by free_port() in this process.  The kernel may give the
# same ephemeral port twice once the probe socket is closed; remembering them
# keeps two registries started back to back from colliding.
_handed_out_ports: set[int] = set()
_ports_lock = threading.Lock()


def free_port() -> int:
    """Return a currently free TCP port on 127.0.0.1 (bind to port 0)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        with _ports_lock:
            if port not in _handed_out_ports:
                _handed_out_ports.add(port)
                return port
    raise RuntimeError("could not find a free port")


# --------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------


def _new_key() -> rsa.RSAPrivateKey:
    # 2048-bit RSA: accepted by Go's crypto/x509 and libtrust (RS256).
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _validity() -> tuple[_dt.datetime, _dt.datetime]:
    # Back-date a little so clock skew between processes never matters.
    now = _dt.datetime.now(_dt.UTC)
    return now - _dt.timedelta(hours=1), now + _dt.timedelta(days=2)


def _make_ca(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """Self-signed CA certificate.

    It carries the extensions strict verifiers want (critical basicConstraints,
    keyUsage, SKI/AKI), e.g. Python 3.13's default VERIFY_X509_STRICT.
    """
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    not_before, not_after = _validity()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_server_cert(
    ca_key: rsa.RSAPrivateKey, ca_cert: x509.Certificate
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """Server certificate for 127.0.0.1 / localhost, issued by the test CA."""
    key = _new_key()
    not_before, not_after = _validity()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


# --------------------------------------------------------------------------
# Token service
# --------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _parse_scopes(raw_scopes: list[str]) -> list[dict[str, Any]]:
    """Turn ``type:name:a,b`` scope strings into JWT ``access`` entries.

    Scope values may also be space-separated (OAuth2 style).  The name may
    itself contain ``:`` (``host:port/repo``), so split type at the first and
    actions at the last colon.  Repeated resources get their actions merged.
    """
    merged: dict[tuple[str, str], list[str]] = {}
    for raw in raw_scopes:
        for scope in raw.split():
            parts = scope.split(":", 1)
            if len(parts) != 2 or ":" not in parts[1]:
                raise ValueError(f"malformed scope: {scope!r}")
            rtype, rest = parts
            name, actions = rest.rsplit(":", 1)
            if not rtype or not name:
                raise ValueError(f"malformed scope: {scope!r}")
            acts = merged.setdefault((rtype, name), [])
            for action in actions.split(","):
                if action and action not in acts:
                    acts.append(action)
    return [{"type": t, "name": n, "actions": a} for (t, n), a in merged.items()]


class TokenService:
    """Minimal Docker registry token server (``GET /token``).

    Issues RS256 JWTs that distribution 2.8 accepts: the signing certificate
    is put in the JWT header as ``x5c`` and the same certificate is the
    registry's ``rootcertbundle``.  Grants exactly the requested scopes to the
    configured user; no per-repository policy.

    Counters (thread-safe, read them as plain attributes):

    * ``token_requests``  -- every request to ``/token`` (GET or POST), any outcome.
    * ``bad_credentials`` -- requests whose credentials were present but wrong.
    * ``anonymous_requests`` -- requests without credentials.
    * ``tokens_issued``   -- successful token responses.
    * ``scopes_requested`` -- list of scope lists, one per request, in order.
    """

    def __init__(
        self,
        workdir: Path,
        username: str,
        password: str,
        service: str = "pais-test-registry",
        issuer: str = "pais-test-token-issuer",
    ) -> None:
        self.username = username
        self.password = password
        self.service = service
        self.issuer = issuer

        self._lock = threading.Lock()
        self.token_requests = 0
        self.bad_credentials = 0
        self.anonymous_requests = 0
        self.tokens_issued = 0
        self.scopes_requested: list[list[str]] = []

        # Signing key + self-signed cert; the cert doubles as the registry's
        # rootcertbundle and as the x5c chain in each JWT header.
        self._key, self._cert = _make_ca(f"{issuer} signing key")
        self.cert_file = Path(workdir) / "token-signing.crt"
        self.cert_file.write_bytes(_cert_pem(self._cert))
        self._x5c = [base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode("ascii")]

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._make_handler())
        self._httpd.daemon_threads = True
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.realm = f"{self.url}/token"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"token-service-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._stopped = False

    # -- token minting (also handy for tests that need odd tokens) ---------

    def make_token(
        self,
        access: list[dict[str, Any]],
        subject: str | None = None,
        lifetime_s: int = _TOKEN_TTL_S,
        audience: str | None = None,
    ) -> str:
        """Return a signed JWT granting ``access``.

        distribution 2.8 decodes ``aud`` as a single string and the time
        claims as integers, so both are emitted in exactly that shape.
        """
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": self._x5c}
        claims = {
            "iss": self.issuer,
            "sub": self.username if subject is None else subject,
            "aud": audience or self.service,
            "exp": now + lifetime_s,
            "nbf": now,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- request handling --------------------------------------------------

    def _check_basic(self, header: str | None) -> bool | None:
        """True/False for right/wrong basic credentials; None if absent."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, pw = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return bool(sep) and self._creds_match(user, pw)

    def _creds_match(self, user: str, pw: str) -> bool:
        # Constant-time compare; cheap habit even in tests.
        return hmac.compare_digest(user.encode(), self.username.encode()) & hmac.compare_digest(
            pw.encode(), self.password.encode()
        )

    def _handle(
        self, creds_ok: bool | None, service: str | None, scopes: list[str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Shared GET/POST logic: returns (status, json body, extra headers)."""
        with self._lock:
            self.token_requests += 1
            self.scopes_requested.append(list(scopes))
            if creds_ok is False:
                self.bad_credentials += 1
            elif creds_ok is None:
                self.anonymous_requests += 1

        challenge = {"WWW-Authenticate": f'Basic realm="{self.realm}"'}
        if creds_ok is False:
            return 401, _error("UNAUTHORIZED", "invalid username or password"), challenge
        if creds_ok is None and scopes:
            return 401, _error("UNAUTHORIZED", "authentication required"), challenge
        if service and service != self.service:
            return 400, _error("INVALID_REQUEST", f"unknown service {service!r}"), {}
        try:
            access = _parse_scopes(scopes)
        except ValueError as exc:
            return 400, _error("INVALID_REQUEST", str(exc)), {}

        token = self.make_token(access, subject=self.username if creds_ok else "")
        with self._lock:
            self.tokens_issued += 1
        issued_at = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "token": token,
            "access_token": token,
            "expires_in": _TOKEN_TTL_S,
            "issued_at": issued_at,
        }
        return 200, body, {}

    def _make_handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep pytest output clean

            def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                parsed = urllib.parse.urlsplit(self.path)
                if parsed.path != "/token":
                    self._reply(404, _error("NOT_FOUND", "not found"), {})
                    return
                q = urllib.parse.parse_qs(parsed.query)
                creds_ok = service._check_basic(self.headers.get("Authorization"))
                self._reply(*service._handle(creds_ok, _first(q.get("service")), q.get("scope", [])))

            def do_POST(self) -> None:  # noqa: N802
                # OAuth2 password grant (what some clients try first).
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
                if parsed.path != "/token":
                    self._reply(404, _error("NOT_FOUND", "not found"), {})
                    return
                if _first(form.get("grant_type")) != "password":
                    self._reply(400, {"error": "unsupported_grant_type"}, {})
                    return
                user, pw = _first(form.get("username")), _first(form.get("password"))
                creds_ok = None if user is None else service._creds_match(user, pw or "")
                self._reply(*service._handle(creds_ok, _first(form.get("service")), form.get("scope", [])))

        return Handler


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def _error(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message}]}


# --------------------------------------------------------------------------
# Registry server
# --------------------------------------------------------------------------

# Live servers, so a crashed benchmark/test run does not leave registries behind.
_live_servers: weakref.WeakSet[RegistryServer] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_live_servers):
        try:
            server.stop()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


@dataclass(eq=False)
class RegistryServer:
    """A running ``docker-registry`` process (see :func:`start_registry`)."""

    variant: str  # "plain" | "tls_basic" | "token"
    host: str  # "127.0.0.1:PORT"
    url: str  # "http://127.0.0.1:PORT" or "https://..."
    data_dir: Path  # registry storage root
    username: str | None
    password: str | None
    ca_file: Path | None  # for tls_basic
    token_service: TokenService | None
    root_dir: Path = field(repr=False)  # per-server temp dir (config, log, certs, data)
    config_file: Path = field(repr=False)
    log_file: Path = field(repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    def ssl_context(self) -> ssl.SSLContext:
        """Client SSL context trusting this server's CA (default context otherwise)."""
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def log_tail(self, max_bytes: int = 4000) -> str:
        try:
            data = self.log_file.read_bytes()
        except OSError:
            return ""
        return data[-max_bytes:].decode("utf-8", "replace")

    def stop(self) -> None:
        """Terminate the registry (SIGTERM, then SIGKILL) and the token service."""
        self._stop_process()
        if self.token_service is not None:
            self.token_service.stop()

    def _stop_process(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=_STOP_TIMEOUT_S)
        _live_servers.discard(self)

    def __enter__(self) -> RegistryServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _yaml(value: Any, indent: int = 0) -> str:
    """Tiny block-YAML emitter for nested dicts of scalars (JSON-quoted strings)."""
    lines: list[str] = []
    pad = "  " * indent
    for key, val in value.items():
        if isinstance(val, dict):
            lines.append(f"{pad}{key}:")
            lines.append(_yaml(val, indent + 1))
        elif isinstance(val, bool):
            lines.append(f"{pad}{key}: {'true' if val else 'false'}")
        elif isinstance(val, (int, float)):
            lines.append(f"{pad}{key}: {val}")
        else:
            lines.append(f"{pad}{key}: {json.dumps(str(val))}")
    return "\n".join(lines)


def _htpasswd_line(username: str, password: str) -> str:
    # distribution's htpasswd backend only understands bcrypt entries.
    out = subprocess.run(
        [HTPASSWD_BIN, "-Bbn", username, password],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip() + "\n"


def _wait_ready(server: RegistryServer, deadline: float) -> str | None:
    """Poll ``GET /v2/`` until 200/401; return an error string on failure."""
    ctx = server.ssl_context() if server.url.startswith("https") else None
    last_err = "no response"
    while time.monotonic() < deadline:
        proc = server.process
        if proc is None or proc.poll() is not None:
            return f"registry exited with code {proc.returncode if proc else '?'}"
        try:
            with urllib.request.urlopen(f"{server.url}/v2/", timeout=1, context=ctx) as resp:
                if resp.status == 200:
                    return None
                last_err = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return None
            last_err = f"HTTP {exc.code}"
        except (OSError, ssl.SSLError) as exc:
            last_err = repr(exc)
        time.sleep(0.05)
    return f"registry not ready after {_STARTUP_TIMEOUT_S:.0f}s ({last_err})"


def _launch(
    variant: str,
    root: Path,
    username: str,
    password: str,
    ca_file: Path | None,
    token_service: TokenService | None,
) -> RegistryServer:
    """Write config for a fresh port and start one registry process."""
    port = free_port()
    host = f"127.0.0.1:{port}"
    scheme = "https" if variant == "tls_basic" else "http"
    data_dir = root / "data"
    data_dir.mkdir(exist_ok=True)

    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(data_dir)},
            "delete": {"enabled": True},
        },
        "http": {"addr": host, "secret": "pais-test-secret"},
    }
    if variant == "tls_basic":
        config["http"]["tls"] = {
            "certificate": str(root / "server.crt"),
            "key": str(root / "server.key"),
        }
        config["auth"] = {"htpasswd": {"realm": "pais-test", "path": str(root / "htpasswd")}}
    elif variant == "token":
        assert token_service is not None
        config["auth"] = {
            "token": {
                "realm": token_service.realm,
                "service": token_service.service,
                "issuer": token_service.issuer,
                "rootcertbundle": str(token_service.cert_file),
            }
        }
    config_file = root / f"config-{port}.yml"
    config_file.write_text(_yaml(config) + "\n")
    log_file = root / f"registry-{port}.log"

    # REGISTRY_* env vars override the config file; drop any inherited ones.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(config_file)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # not killed by a terminal ^C meant for pytest only
        )
    return RegistryServer(
        variant=variant,
        host=host,
        url=f"{scheme}://{host}",
        data_dir=data_dir,
        username=username if variant != "plain" else None,
        password=password if variant != "plain" else None,
        ca_file=ca_file,
        token_service=token_service,
        root_dir=root,
        config_file=config_file,
        log_file=log_file,
        process=proc,
    )


def start_registry(
    variant: str,
    workdir: Path,
    username: str = "pais",
    password: str = "s3cret-pw",
) -> RegistryServer:
    """Start a registry of the given variant under ``workdir``; wait until ready.

    Each call gets its own temp dir inside ``workdir`` (config, log, certs,
    storage), so several registries can share one workdir and run at once.
    Raises ``RuntimeError`` with the registry log's tail if it does not come up.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown registry variant {variant!r}; expected one of {VARIANTS}")
    if not Path(REGISTRY_BIN).exists():
        raise RuntimeError(f"registry binary not found: {REGISTRY_BIN}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"registry-{variant}-", dir=workdir))

    ca_file: Path | None = None
    token_service: TokenService | None = None
    if variant == "tls_basic":
        ca_key, ca_cert = _make_ca("pais test CA")
        key, cert = _make_server_cert(ca_key, ca_cert)
        ca_file = root / "ca.crt"
        ca_file.write_bytes(_cert_pem(ca_cert))
        (root / "server.crt").write_bytes(_cert_pem(cert))
        (root / "server.key").write_bytes(_key_pem(key))
        os.chmod(root / "server.key", 0o600)
        (root / "htpasswd").write_text(_htpasswd_line(username, password))
    elif variant == "token":
        token_service = TokenService(root, username, password)

    # Retry a couple of times: the port picked by free_port() can be grabbed
    # by someone else before the registry binds it.
    errors: list[str] = []
    for _attempt in range(3):
        server = _launch(variant, root, username, password, ca_file, token_service)
        _live_servers.add(server)
        err = _wait_ready(server, time.monotonic() + _STARTUP_TIMEOUT_S)
        if err is None:
            return server
        tail = server.log_tail()
        server._stop_process()  # keep the token service: the retry reuses it
        errors.append(f"{err}\n--- {server.log_file} (tail) ---\n{tail}")
        if "address already in use" not in tail:
            break
    if token_service is not None:
        token_service.stop()
    raise RuntimeError(f"failed to start {variant} registry:\n" + "\n".join(errors))
