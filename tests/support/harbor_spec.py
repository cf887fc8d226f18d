"""Harbor's published API document as a test oracle, and a fake Harbor that obeys it.

Harbor cannot run here (no network, no container images), so pais's Harbor client is checked
against Harbor's own API document, `tests/specs/harbor-swagger-v2.15.2.yaml` (Swagger 2.0,
basePath /api/v2.0), instead of a live Harbor:

* `HarborSpec` loads the document and checks one HTTP exchange against the operation it targets:
  the path template (a `repository_name` must arrive URL-encoded twice, as the document says),
  the method, the parameters (required ones present, none undeclared, types, `maximum`), the
  JSON body against the referenced `definitions` schema, and each response against the schema
  and headers declared for its status code. A status code the operation does not declare is a
  violation too.
* `FakeHarbor` is a small stateful Harbor (projects, quotas, repositories, artifacts with tags and
  accessories, robots, immutable-tag rules) on 127.0.0.1 (stdlib ThreadingHTTPServer, plain
  HTTP) whose every request and every response goes through `HarborSpec`; `violations` lists what
  did not conform. Where the document is silent the fake copies Harbor's handlers (v2.15 source):
  robot names `robot$<project>+<name>`, ListRobot's `q=Level=project,ProjectID=N`, the
  `Link: <...>; rel="prev" , <...>; rel="next"` format, systeminfo hiding `harbor_version`
  from anonymous callers (2.13+).

Schemas: Swagger 2.0 schema objects are JSON Schema draft 4 plus extensions. `x-nullable` /
`x-isnullable` (go-swagger's "may be null") are turned into `type: [T, "null"]` before checking;
`format` int32/int64/date-time are checked; `$ref: '#/definitions/X'` resolves inside the whole
document through a `referencing` registry.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_PATH = Path(__file__).resolve().parent.parent / "specs" / "harbor-swagger-v2.15.2.yaml"
DOC_URI = "urn:pais-test:harbor-swagger-v2.15.2"

# ---------------------------------------------------------------------------------------------
# The document


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(quote(p.replace("~", "~0").replace("/", "~1"), safe="~") for p in parts)


def _nullable(doc: Any) -> Any:
    """go-swagger's x-nullable / x-isnullable as JSON Schema: the value may also be null."""
    if isinstance(doc, list):
        return [_nullable(x) for x in doc]
    if not isinstance(doc, dict):
        return doc
    out = {k: _nullable(v) for k, v in doc.items()}
    if out.get("x-nullable") is True or out.get("x-isnullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "$ref" in out:  # draft 4 ignores $ref's siblings: wrap instead
            return {"anyOf": [{"$ref": out["$ref"]}, {"type": "null"}]}
    return out


def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def _date_time(value: object) -> bool:
    if isinstance(value, str):
        if "T" not in value:
            raise ValueError("no 'T' between date and time")
        dt.datetime.fromisoformat(value)
    return True


_FORMATS = jsonschema.FormatChecker(formats=())
_FORMATS.checks("int32")(_int32)
_FORMATS.checks("int64")(_int64)
_FORMATS.checks("date-time", raises=ValueError)(_date_time)


@dataclass
class Parameter:
    name: str
    location: str  # path, query, header, body
    required: bool
    spec: dict[str, Any]  # the parameter object; for body, spec["schema"] is used via pointer
    pointer: str | None = None  # for body: where its schema lives in the document

    def schema(self) -> dict[str, Any]:
        keys = ("type", "format", "maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum", "enum",
                "maxLength", "minLength", "pattern", "items", "maxItems", "minItems", "uniqueItems")
        return {k: self.spec[k] for k in keys if k in self.spec}


@dataclass
class Response:
    pointer: str | None  # of its schema, when it has one
    headers: dict[str, dict[str, Any]]


@dataclass
class Operation:
    op_id: str
    method: str
    template: str  # e.g. /projects/{project_name}/repositories
    regex: re.Pattern[str]
    literals: int
    params: list[Parameter]
    responses: dict[str, Response]

    @property
    def body(self) -> Parameter | None:
        return next((p for p in self.params if p.location == "body"), None)


class HarborSpec:
    """Harbor's API document, ready to check requests and responses against."""

    def __init__(self, path: Path = SPEC_PATH) -> None:
        raw = yaml.safe_load(path.read_text())
        self.base_path: str = raw["basePath"]
        self.raw = raw  # parameters and headers are read from the document as written
        self.doc = _nullable(raw)  # schemas are checked against this
        self.security = raw.get("securityDefinitions") or {}
        resource = Resource.from_contents(self.doc, default_specification=DRAFT4)
        self.registry: Registry = Registry().with_resource(DOC_URI, resource)
        self.operations: list[Operation] = []
        self._validators: dict[str, jsonschema.Draft4Validator] = {}
        for template, item in raw["paths"].items():
            shared = item.get("parameters") or []
            for method, op in item.items():
                if method == "parameters" or not isinstance(op, dict):
                    continue
                self.operations.append(self._operation(template, method, op, shared))
        # Literal segments win over parameters (Harbor's router and any sane one agree).
        self.operations.sort(key=lambda o: -o.literals)

    def _resolve(self, node: dict[str, Any], section: str) -> tuple[dict[str, Any], tuple[str, ...] | None]:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(f"#/{section}/"):
            name = ref.split("/")[-1]
            return self.raw[section][name], (section, name)
        return node, None

    def _operation(self, template: str, method: str, op: dict[str, Any], shared: list[Any]) -> Operation:
        params: list[Parameter] = []
        for index, node in enumerate([*shared, *(op.get("parameters") or [])]):
            spec, where = self._resolve(node, "parameters")
            pointer = None
            if spec["in"] == "body":
                if where is not None:
                    pointer = _pointer(*where, "schema")
                else:
                    pointer = _pointer("paths", template, method, "parameters",
                                       str(index - len(shared)), "schema")
            params.append(Parameter(spec["name"], spec["in"], bool(spec.get("required")), spec, pointer))
        responses: dict[str, Response] = {}
        for code, node in (op.get("responses") or {}).items():
            spec, where = self._resolve(node, "responses")
            pointer = None
            if "schema" in spec:
                pointer = _pointer(*where, "schema") if where else _pointer("paths", template, method, "responses",
                                                                             str(code), "schema")
            responses[str(code)] = Response(pointer, spec.get("headers") or {})
        pattern, literals = "", 0
        for segment in template.strip("/").split("/"):
            name = re.fullmatch(r"\{(\w+)\}", segment)
            if name:
                pattern += f"/(?P<{name.group(1)}>[^/]+)"
            else:
                pattern += "/" + re.escape(segment)
                literals += 1
        regex = re.compile("^" + re.escape(self.base_path) + pattern + "/?$")
        return Operation(op["operationId"], method.upper(), template, regex, literals, params, responses)

    # -- lookups -----------------------------------------------------------------------------

    def match(self, method: str, raw_path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation for a path as sent on the wire (still percent-encoded)."""
        for op in self.operations:
            if op.method != method:
                continue
            m = op.regex.match(raw_path)
            if m:
                return op, m.groupdict()
        return None

    def validator(self, pointer: str) -> jsonschema.Draft4Validator:
        if pointer not in self._validators:
            self._validators[pointer] = jsonschema.Draft4Validator(
                {"$ref": DOC_URI + pointer}, registry=self.registry, format_checker=_FORMATS)
        return self._validators[pointer]

    def schema_errors(self, pointer: str, value: Any) -> list[str]:
        return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                for e in self.validator(pointer).iter_errors(value)]

    # -- checks ------------------------------------------------------------------------------

    def check_request(self, op: Operation, path_values: Mapping[str, str], query: Mapping[str, list[str]],
                      headers: Mapping[str, str], body: bytes) -> tuple[list[str], dict[str, Any]]:
        """Violations of one request, and its parameters decoded as the server sees them."""
        where = f"{op.method} {op.template} ({op.op_id})"
        problems: list[str] = []
        values: dict[str, Any] = {}
        lower_headers = {k.lower(): v for k, v in headers.items()}
        declared_query = {p.name for p in op.params if p.location == "query"}
        for name in query:
            if name not in declared_query:
                problems.append(f"{where}: query parameter {name!r} is not in the document")
        for p in op.params:
            if p.location == "path":
                raw = path_values.get(p.name)
                if raw is None:
                    problems.append(f"{where}: path parameter {p.name} missing")
                    continue
                value = unquote(raw)  # the router decodes path parameters once
                if p.name == "repository_name":
                    # "If it contains slash, encode it twice over with URL encoding": after the
                    # router's decoding there must still be no '/', only '%2F'.
                    if "/" in value:
                        problems.append(f"{where}: repository_name {raw!r} is encoded once; the document wants "
                                        "it encoded twice (a/b -> a%252Fb)")
                    value = unquote(value)
                values[p.name] = self._coerce(where, p, value, problems)
            elif p.location == "query":
                got = query.get(p.name)
                if not got:
                    if p.required:
                        problems.append(f"{where}: required query parameter {p.name!r} missing")
                    continue
                if p.spec.get("type") != "array" and len(got) > 1:
                    problems.append(f"{where}: query parameter {p.name!r} given {len(got)} times")
                values[p.name] = self._coerce(where, p, got[0], problems)
            elif p.location == "header":
                got_header = lower_headers.get(p.name.lower())
                if got_header is None:
                    if p.required:
                        problems.append(f"{where}: required header {p.name!r} missing")
                    continue
                values[p.name] = self._coerce(where, p, got_header, problems)
            elif p.location == "body":
                if not body:
                    if p.required:
                        problems.append(f"{where}: required body {p.name!r} missing")
                    continue
                if not lower_headers.get("content-type", "").startswith("application/json"):
                    problems.append(f"{where}: body sent as {lower_headers.get('content-type')!r}, the API "
                                    "consumes application/json")
                try:
                    parsed = json.loads(body)
                except ValueError:
                    problems.append(f"{where}: body is not JSON")
                    continue
                assert p.pointer is not None
                problems += [f"{where}: body {p.name}: {e}" for e in self.schema_errors(p.pointer, parsed)]
                values[p.name] = parsed
        if body and op.body is None:
            problems.append(f"{where}: a body was sent; the operation takes none")
        auth = lower_headers.get("authorization")
        if auth is not None:
            schemes = {d.get("type") for d in self.security.values()}
            if not (auth.startswith("Basic ") and "basic" in schemes):
                problems.append(f"{where}: Authorization {auth.split(' ')[0]!r} is not a scheme the document "
                                f"declares ({sorted(s for s in schemes if s)})")
        return problems, values

    def _coerce(self, where: str, p: Parameter, raw: str, problems: list[str]) -> Any:
        kind = p.spec.get("type", "string")
        value: Any = raw
        if kind == "integer":
            if not re.fullmatch(r"-?\d+", raw):
                problems.append(f"{where}: {p.location} parameter {p.name!r}={raw!r} is not an integer")
                return raw
            value = int(raw)
        elif kind == "boolean":
            if raw not in ("true", "false"):
                problems.append(f"{where}: {p.location} parameter {p.name!r}={raw!r} is not a boolean")
                return raw
            value = raw == "true"
        elif kind == "array":
            value = raw.split(",") if p.spec.get("collectionFormat", "csv") == "csv" else [raw]
        for error in jsonschema.Draft4Validator(p.schema(), format_checker=_FORMATS).iter_errors(value):
            problems.append(f"{where}: {p.location} parameter {p.name!r}: {error.message}")
        return value

    def check_response(self, op: Operation, status: int, body: Any, headers: Mapping[str, str],
                       has_body: bool) -> list[str]:
        where = f"{op.method} {op.template} ({op.op_id}) -> {status}"
        response = op.responses.get(str(status)) or op.responses.get("default")
        if response is None:
            return [f"{where}: status {status} is not declared for this operation "
                    f"(declared: {', '.join(sorted(op.responses))})"]
        problems: list[str] = []
        if op.method == "HEAD":
            pass  # a HEAD answer carries no body, whatever the status
        elif response.pointer is not None:
            if not has_body:
                problems.append(f"{where}: the document declares a body; none was sent")
            else:
                problems += [f"{where}: {e}" for e in self.schema_errors(response.pointer, body)]
        elif has_body:
            problems.append(f"{where}: a body was sent; the document declares none")
        for name, spec in response.headers.items():
            value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
            if value is not None and spec.get("type") == "integer" and not re.fullmatch(r"-?\d+", value):
                problems.append(f"{where}: header {name}={value!r} is not an integer")
        for name in headers:
            if name.lower() in ("x-total-count", "link") and not any(n.lower() == name.lower() for n in response.headers):
                problems.append(f"{where}: header {name} is not declared for this response")
        return problems


# ---------------------------------------------------------------------------------------------
# The fake


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


NEVER = "0001-01-01T00:00:00.000Z"  # what Harbor sends for "never pulled"
ICON = "sha256:0048162a053eef4d4ce3fe7518615bef084403614f8bca43b40ae2e762e11e06"  # Harbor's default icon
_ROBOT_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")

class HarborError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Recorded:
    method: str
    path: str  # raw, as sent
    query: dict[str, list[str]]
    op_id: str | None
    user: str | None
    status: int = 0


@dataclass
class User:
    password: str
    admin: bool = False


class FakeHarbor:
    """A small Harbor 2.15 on 127.0.0.1 whose requests and responses are checked against the document."""

    def __init__(self, spec: HarborSpec | None = None, *, version: str = "v2.15.2-080b0220",
                 hide_version_anonymously: bool = True, upstream: str | None = None) -> None:
        self.spec = spec or HarborSpec()
        # Harbor fronts a CNCF distribution registry for /v2/; with `upstream` (a real one's
        # host:port) the fake forwards the registry API there, as Harbor's core does.
        self.upstream = upstream
        self.version = version
        self.hide_version_anonymously = hide_version_anonymously
        self.users: dict[str, User] = {"admin": User("Harbor12345", admin=True), "dev": User("Dev12345")}
        self.members: dict[str, set[str]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.quotas: dict[int, int] = {}
        self.repositories: dict[str, dict[str, Any]] = {}
        self.artifacts: dict[str, list[dict[str, Any]]] = {}
        self.robots: list[dict[str, Any]] = []
        self.robot_secrets: dict[int, str] = {}  # sha256 of each secret, never the secret
        self.rules: dict[int, list[dict[str, Any]]] = {}
        self.violations: list[str] = []
        self.requests: list[Recorded] = []
        self.race_create: set[str] = set()  # projects "someone else" creates between HEAD and POST
        self._ids = iter(range(1, 10**9))
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeHarbor:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if fake.upstream and self.path.startswith("/v2/"):
                    status, headers, payload = fake.forward(self.command, self.path, dict(self.headers.items()), body)
                else:
                    status, headers, payload = fake.handle(self.command, self.path, dict(self.headers.items()), body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD" and payload:
                    self.wfile.write(payload)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        import http.client

        assert self.upstream is not None
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "authorization", "content-length")}
        conn.request(method, path, body=body or None, headers=sent)
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        keep = {k: v.replace(f"http://{self.upstream}", f"http://{self.host}") for k, v in response.getheaders()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")}
        return response.status, keep, payload

    @property
    def host(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeHarbor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- seeding, for tests ----------------------------------------------------------------

    def _id(self) -> int:
        return next(self._ids)

    def add_project(self, name: str, *, public: bool = False, storage_limit: int = -1, owner: str = "admin") -> dict[str, Any]:
        with self._lock:
            now = _now()
            project: dict[str, Any] = {"project_id": self._id(), "name": name, "owner_id": 1, "owner_name": owner,
                       "creation_time": now, "update_time": now, "deleted": False, "repo_count": 0,
                       "metadata": {"public": "true" if public else "false"},
                       "cve_allowlist": {"id": self._id(), "project_id": 0, "items": [],
                                         "creation_time": NEVER, "update_time": NEVER}}
            self.projects[name] = project
            self.quotas[project["project_id"]] = storage_limit
            self.rules[project["project_id"]] = []
            return project

    def add_artifact(self, project: str, repository: str, digest: str | None = None, *, tags: tuple[str, ...] = (),
                     media_type: str = "application/vnd.cnai.model.config.v1+json",
                     artifact_type: str | None = "application/vnd.cnai.model.manifest.v1+json",
                     art_type: str = "MODEL", size: int = 1234,
                     accessories: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
        """One artifact in `project/repository`; accessories as (digest, type)."""
        with self._lock:
            full = f"{project}/{repository}"
            repo = self._ensure_repository(full)
            digest = digest or "sha256:" + hashlib.sha256(f"{full}{self._id()}".encode()).hexdigest()
            now = _now()
            art = {"id": self._id(), "type": art_type, "media_type": media_type,
                   "manifest_media_type": "application/vnd.oci.image.manifest.v1+json",
                   "project_id": repo["project_id"], "repository_id": repo["id"], "repository_name": full,
                   "digest": digest, "size": size, "icon": ICON,
                   "push_time": now, "pull_time": NEVER, "extra_attrs": {}, "annotations": {}, "references": [],
                   "tags": [], "addition_links": {}, "labels": [], "accessories": []}
            if artifact_type:
                art["artifact_type"] = artifact_type
            for tag in tags:
                art["tags"].append({"id": self._id(), "repository_id": repo["id"], "artifact_id": art["id"],
                                    "name": tag, "push_time": now, "pull_time": NEVER, "immutable": False})
            for acc_digest, acc_type in accessories:
                art["accessories"].append({"id": self._id(), "artifact_id": self._id(), "subject_artifact_id": art["id"],
                                           "subject_artifact_digest": digest, "subject_artifact_repo": full,
                                           "size": 567, "digest": acc_digest, "type": acc_type, "icon": "",
                                           "creation_time": now})
            self.artifacts[full].append(art)
            repo["artifact_count"] = len(self.artifacts[full])
            return art

    def _ensure_repository(self, full: str) -> dict[str, Any]:
        project = self.projects[full.split("/", 1)[0]]
        if full not in self.repositories:
            now = _now()
            self.repositories[full] = {"id": self._id(), "project_id": project["project_id"], "name": full,
                                       "artifact_count": 0, "pull_count": 0, "creation_time": now, "update_time": now}
            self.artifacts[full] = []
            project["repo_count"] += 1
        return self.repositories[full]

    # -- what tests look at --------------------------------------------------------------------

    def calls(self, method: str | None = None, op_id: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if (method is None or r.method == method)
                    and (op_id is None or r.op_id == op_id)]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- the server ------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(target)
        raw_path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        user, auth_problem = self._user(headers)
        record = Recorded(method, raw_path, query, None, user)
        with self._lock:
            self.requests.append(record)
        if not raw_path.startswith(self.spec.base_path + "/"):
            record.status = 404
            return 404, {"Content-Type": "text/plain"}, b"404 page not found\n"
        found = self.spec.match(method, raw_path)
        if found is None:
            self._violation(f"{method} {raw_path}: no operation in the document")
            record.status = 404
            return 404, {"Content-Type": "text/plain"}, b"404 page not found\n"
        op, path_values = found
        record.op_id = op.op_id
        problems, params = self.spec.check_request(op, path_values, query, headers, body)
        if any(k.lower() == "cookie" for k in headers):
            problems.append(f"{method} {op.template}: a Cookie was sent to /api/; Harbor would then enforce CSRF "
                            "and refuse the request without X-Harbor-CSRF-Token")
        for p in problems:
            self._violation(p)
        out_headers: dict[str, str] = {"X-Request-Id": secrets.token_hex(8)}
        try:
            if auth_problem:
                raise HarborError(401, "UNAUTHORIZED", auth_problem)
            if problems:
                raise HarborError(400, "BAD_REQUEST", "; ".join(problems))
            handler = getattr(self, f"op_{op.op_id}", None)
            if handler is None:
                self._violation(f"{op.op_id}: the fake does not implement it (the client should not need it)")
                raise HarborError(500, "INTERNAL_SERVER_ERROR", f"{op.op_id} not implemented by the fake")
            with self._lock:
                status, payload, extra = handler(params, user, raw_path)
            out_headers.update(extra)
        except HarborError as err:
            status, payload = err.status, {"errors": [{"code": err.code, "message": err.message}]}
        record.status = status
        for p in self.spec.check_response(op, status, payload, out_headers, payload is not None):
            self._violation(p)
        data = b""
        if payload is not None:
            data = json.dumps(payload).encode()
            out_headers["Content-Type"] = "application/json"
        if method == "GET" and op.op_id == "getSystemInfo":
            # Harbor's UI session cookie; a client that sends it back to /api/ trips CSRF.
            out_headers["Set-Cookie"] = "sid=fakesession; Path=/; HttpOnly"
        return status, out_headers, data

    def _violation(self, text: str) -> None:
        with self._lock:
            self.violations.append(text)

    def _user(self, headers: Mapping[str, str]) -> tuple[str | None, str | None]:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if auth is None:
            return None, None
        if not auth.startswith("Basic "):
            return None, "unsupported authorization scheme"
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return None, "malformed basic credentials"
        known = self.users.get(user)
        if known and secrets.compare_digest(known.password, password):
            return user, None
        for robot in self.robots:
            if robot["name"] == user and self.robot_secrets.get(robot["id"]) == hashlib.sha256(password.encode()).hexdigest():
                return user, None
        return None, "invalid credentials"

    # -- access --------------------------------------------------------------------------------

    def _admin(self, user: str | None) -> None:
        if user is None:
            raise HarborError(401, "UNAUTHORIZED", "unauthorized")
        if not (user in self.users and self.users[user].admin):
            raise HarborError(403, "FORBIDDEN", "forbidden")

    def _project(self, name: str) -> dict[str, Any]:
        project = self.projects.get(name)
        if project is None:
            raise HarborError(404, "NOT_FOUND", f"project {name} not found")
        return project

    def _can_read(self, user: str | None, project: dict[str, Any]) -> None:
        if project["metadata"].get("public") == "true":
            return
        if user is None:
            raise HarborError(401, "UNAUTHORIZED", "unauthorized")
        if user in self.users and self.users[user].admin:
            return
        if user in self.members.get(project["name"], set()):
            return
        if any(r["name"] == user and any(p["namespace"] == project["name"] for p in r["permissions"])
               for r in self.robots):
            return
        raise HarborError(403, "FORBIDDEN", "forbidden")

    # -- paging ----------------------------------------------------------------------------

    def _page(self, items: list[Any], params: Mapping[str, Any], path: str,
              extra_query: Mapping[str, str]) -> tuple[list[Any], dict[str, str]]:
        page, size = int(params.get("page", 1)), int(params.get("page_size", 10))
        total = len(items)
        chunk = items[(page - 1) * size: page * size]
        links = []
        # BaseAPI.Links: relative URL, query re-encoded and then unescaped
        base_query = "&".join(f"{k}={v}" for k, v in extra_query.items())
        sep = "&" if base_query else ""
        if page > 1 and (page - 1) * size < total:
            links.append(f'<{path}?{base_query}{sep}page={page - 1}&page_size={size}>; rel="prev"')
        if page * size < total:
            links.append(f'<{path}?{base_query}{sep}page={page + 1}&page_size={size}>; rel="next"')
        headers = {"X-Total-Count": str(total)}
        if links:
            headers["Link"] = " , ".join(links)
        return chunk, headers

    # -- operations (named op_<operationId>) -----------------------------------------------

    def op_getSystemInfo(self, params: dict[str, Any], user: str | None, path: str) -> tuple[int, Any, dict[str, str]]:
        info: dict[str, Any] = {"auth_mode": "db_auth", "primary_auth_mode": False, "self_registration": False,
                                "banner_message": "", "oidc_provider_name": ""}
        if user is not None or not self.hide_version_anonymously:
            info["harbor_version"] = self.version
        if user is not None:
            info.update({"has_ca_root": False, "project_creation_restriction": "adminonly", "read_only": False,
                         "external_url": f"http://{self.host}", "registry_url": self.host,
                         "registry_storage_provider_name": "filesystem", "notification_enable": True,
                         "current_time": _now()})
        return 200, info, {}

    def op_headProject(self, params: dict[str, Any], user: str | None, path: str) -> tuple[int, Any, dict[str, str]]:
        if params["project_name"] in self.projects:
            return 200, None, {}
        raise HarborError(404, "NOT_FOUND", "project not found")

    def op_createProject(self, params: dict[str, Any], user: str | None, path: str) -> tuple[int, Any, dict[str, str]]:
        if user is None:
            raise HarborError(401, "UNAUTHORIZED", "unauthorized")
        self._admin(user)  # project_creation_restriction: adminonly
        req = params["project"]
        name = req.get("project_name") or ""
        if not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", name):
            raise HarborError(400, "BAD_REQUEST", "invalid project name")
        if name in self.race_create and name not in self.projects:
            self.add_project(name)
        if name in self.projects:
            raise HarborError(409, "CONFLICT", f"The project named {name} already exists")
        limit = req.get("storage_limit")
        limit = -1 if limit is None else limit
        if limit == 0 or limit < -1:
            raise HarborError(400, "BAD_REQUEST", "invalid storage limit")
        public = str((req.get("metadata") or {}).get("public", "false")).lower() == "true"
        project = self.add_project(name, public=public, storage_limit=limit, owner=user)
        return 201, None, {"Location": f"{path}/{project['project_id']}"}

    def op_getProject(self, params: dict[str, Any], user: str | None, path: str) -> tuple[int, Any, dict[str, str]]:
        key = params["project_name_or_id"]
        if params.get("X-Is-Resource-Name") is True or not str(key).isdigit():
            project = self.projects.get(key)
        else:
            project = next((p for p in self.projects.values() if p["project_id"] == int(key)), None)
        if project is None:
            # v2.15.2 documents no 404 here; Harbor sends one anyway and the check records it.
            raise HarborError(404, "NOT_FOUND", "project not found")
        self._can_read(user, project)
        return 200, copy.deepcopy(project), {}

    def op_listQuotas(self, params: dict[str, Any], user: str | None, path: str) -> tuple[int, Any, dict[str, str]]:
        self._admin(user)
        items = []
        for project in self.projects.values():
            pid = project["project_id"]
            if params.get("reference") not in (None, "project"):
                continue
            if params.get("reference_id") not in (None, str(pid)):
                continue
            items.append({"id": pid, "ref": {"id": pid, "name": project["name"], "owner_name": project["owner_name"]},
                          "hard": {"storage": self.quotas[pid]}, "used": {"storage": 0},
                          "creation_time": project["creation_time"], "update_time": project["update_time"]})
        chunk, headers = self._page(items, params, path, {})
        return 200, chunk, headers

    def _rules_project(self, params: dict[str, Any]) -> dict[str, Any]:
        key = params["project_name_or_id"]
        if params.get("X-Is-Resource-Name") is True or not str(key).isdigit():
            return self._project(key)
        project = next((p for p in self.projects.values() if p["project_id"] == int(key)), None)
        if project is None:
            raise HarborError(404, "NOT_FOUND", "project not found")
        return project

    def op_ListImmuRules(self, params: dict[str, Any], user: str | None, path: str) -> tuple[int, Any, dict[str, str]]:
        self._admin(user)
        project = self._rules_project(params)
        chunk, headers = self._page(copy.deepcopy(self.rules[project["project_id"]]), params, path, {})
        return 200, chunk, headers

    def op_CreateImmuRule(self, params: dict[str, Any], user: str | None, path: str) -> tuple[int, Any, dict[str, str]]:
        self._admin(user)
        project = self._rules_project(params)
        rule = copy.deepcopy(params["ImmutableRule"])
        if rule.get("action") != "immutable" or not rule.get("tag_selectors"):
            raise HarborError(400, "BAD_REQUEST", "invalid immutable rule")
        rule["id"] = self._id()
        rule.setdefault("priority", 0)
        rule.setdefault("disabled", False)
        rule.setdefault("params", {})
        self.rules[project["project_id"]].append(rule)
        return 201, None, {"Location": f"{path}/{rule['id']}"}

    def op_ListRobot(self, params: dict[str, Any], user: str | None, path: str) -> tuple[int, Any, dict[str, str]]:
        if user is None:
            raise HarborError(401, "UNAUTHORIZED", "unauthorized")  # not documented for ListRobot: recorded
        keywords = dict(kv.split("=", 1) for kv in (params.get("q") or "").split(",") if "=" in kv)
        level = keywords.get("Level", "system")
        if level == "project" and "ProjectID" not in keywords:
            raise HarborError(400, "BAD_REQUEST", "must with project ID when to query project robots")
        self._admin(user)
        pid = int(keywords.get("ProjectID", 0))
        items = [self._robot_view(r) for r in self.robots if r["level"] == level and r["project_id"] == pid]
        chunk, headers = self._page(items, params, path, {"q": params.get("q") or ""})
        return 200, chunk, headers

    def _robot_view(self, robot: dict[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in robot.items() if k not in ("project_id",)}

    def op_CreateRobot(self, params: dict[str, Any], user: str | None, path: str) -> tuple[int, Any, dict[str, str]]:
        if user is None:
            raise HarborError(401, "UNAUTHORIZED", "unauthorized")
        req = params["robot"]
        name = req.get("name") or ""
        if not _ROBOT_NAME.match(name):
            raise HarborError(400, "BAD_REQUEST", "robot name is not in lower case or contains illegal characters")
        duration = req.get("duration", 0)
        if duration < -1 or req.get("level") not in ("system", "project") or not req.get("permissions"):
            raise HarborError(400, "BAD_REQUEST", "bad request")
        if any(not p.get("access") for p in req["permissions"]):
            raise HarborError(400, "BAD_REQUEST", "bad request empty access")
        if req["level"] == "project" and len(req["permissions"]) > 1:
            raise HarborError(400, "BAD_REQUEST", "bad request permission")
        namespace = req["permissions"][0].get("namespace")
        project = self._project(namespace)
        self._admin(user)
        full = f"robot${namespace}+{name}"
        if any(r["name"] == full for r in self.robots):
            raise HarborError(409, "CONFLICT", "robot already exists")  # undocumented: recorded if it happens
        now, secret = _now(), secrets.token_urlsafe(24)
        robot = {"id": self._id(), "name": full, "description": req.get("description", ""), "level": req["level"],
                 "duration": duration, "editable": True, "disable": bool(req.get("disable")), "expires_at": -1,
                 "permissions": copy.deepcopy(req["permissions"]), "creator_type": "local", "creator_ref": 1,
                 "creation_time": now, "update_time": now, "project_id": project["project_id"]}
        self.robots.append(robot)
        self.robot_secrets[robot["id"]] = hashlib.sha256(secret.encode()).hexdigest()
        created = {"id": robot["id"], "name": full, "secret": secret, "creation_time": now, "expires_at": -1}
        return 201, created, {"Location": f"{path}/{robot['id']}"}

    def op_listRepositories(self, params: dict[str, Any], user: str | None, path: str) -> tuple[int, Any, dict[str, str]]:
        project = self._project(params["project_name"])
        self._can_read(user, project)
        items = [copy.deepcopy(r) for name, r in sorted(self.repositories.items())
                 if name.startswith(project["name"] + "/")]
        chunk, headers = self._page(items, params, path, {})
        return 200, chunk, headers

    def op_listArtifacts(self, params: dict[str, Any], user: str | None, path: str) -> tuple[int, Any, dict[str, str]]:
        project = self._project(params["project_name"])
        self._can_read(user, project)
        full = f"{project['name']}/{params['repository_name']}"
        if full not in self.repositories:
            raise HarborError(404, "NOT_FOUND", f"repository {full} not found")
        items = []
        for art in self.artifacts[full]:
            view = copy.deepcopy(art)
            if params.get("with_tag", True) is False:
                view.pop("tags")
            if params.get("with_accessory", False) is not True:
                view.pop("accessories")
            items.append(view)
        extra: dict[str, str] = {k: str(params[k]).lower() for k in ("with_tag", "with_accessory") if k in params}
        chunk, headers = self._page(items, params, path, extra)
        return 200, chunk, headers

