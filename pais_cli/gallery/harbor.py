"""Harbor's REST API (`/api/v2.0`), the part `pais` needs: detect Harbor and its version, create a
project with a quota, an immutable-tag rule and a robot account (`gallery init`), list a project's
models in a few requests (`models list`), and copy an artifact inside one instance (promote).

It rides on the registry's RegistryClient, so host, scheme, TLS and credentials are the ones
`docker login` gave the registry. Harbor's API takes HTTP Basic with those same credentials
(the document's only `securityDefinitions` entry is `basic`), but it never sends a Basic
challenge the way the registry does: an anonymous call just gets 401, or a reduced answer
(systeminfo). So the Basic header is sent up front on every /api/ call.

Written against Harbor's published API document, v2.15.2 (tests/specs/harbor-swagger-v2.15.2.yaml).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from urllib.parse import quote

import httpx

from ..config import Flavor
from ..errors import (
    AuthenticationError,
    NotFound,
    PermissionDenied,
    RegistryError,
    RegistryNotFound,
    UsageError,
)
from ..units import format_exact, parse_size
from .auth import Credentials
from .mediatypes import NAMES

if TYPE_CHECKING:  # the registry store builds its Harbor client; only the type is needed here
    from .stores.registry import Answer, RegistryClient

API = "/api/v2.0"
PAGE_SIZE = 100  # the document's maximum for page_size
MAX_PAGES = 10_000  # a guard against a server whose paging never ends
LIST_JOBS = 8

RobotPermission = Literal["pull", "push"]

# Project and robot names as Harbor's handlers check them (project.go, robot.go validateName).
_PROJECT_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_ROBOT_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")

# Keys of GeneralInfo that Harbor returns even to anonymous callers; a registry that is not
# Harbor answers /api/v2.0/systeminfo with 404, or with something without these.
_GENERAL_INFO_KEYS = frozenset({"auth_mode", "self_registration", "harbor_version", "primary_auth_mode",
                                "banner_message", "oidc_provider_name", "registry_url", "external_url"})


# ---------------------------------------------------------------------------------------------
# Detection and flavour


@dataclass(frozen=True)
class HarborInfo:
    version: str | None  # e.g. "v2.15.2-080b0220"; None when not Harbor or hidden (anonymous)
    is_harbor: bool
    authenticated: bool = False  # whether credentials went with the request

    @property
    def version_tuple(self) -> tuple[int, int, int] | None:
        return parse_harbor_version(self.version)


class FlavorChoice(NamedTuple):
    flavor: Flavor
    reason: str


def parse_harbor_version(version: str | None) -> tuple[int, int, int] | None:
    """(2, 15, 2) from "v2.15.2-080b0220" (Harbor's `<release>-<commit>`); None if unreadable."""
    match = _VERSION.match(version or "")
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def default_flavor(info: HarborInfo, override: str | None = None) -> FlavorChoice:
    """The ModelPack flavour a gallery on this registry should write, and why.

    Released Harbor 2.13-2.15 (and older) only shows `vnd.cnai` artifacts as models; Harbor 2.16+
    (main since 2026-03) reads the current `vnd.cncf` names. When the version is hidden
    (anonymous caller on 2.13+) we choose cnai: every released Harbor with a model view needs it,
    and pais reads both flavours, so the cost of guessing wrong is only Harbor's UI view, never data.
    """
    if override:
        if override not in NAMES:
            raise UsageError(f"unknown flavor {override!r}",
                             "use --flavor cncf (current ModelPack) or cnai (Harbor 2.13-2.15)")
        return FlavorChoice(override, f"--flavor {override} given")  # type: ignore[arg-type]
    if not info.is_harbor:
        return FlavorChoice("cncf", "not Harbor: cncf, the current ModelPack names")
    parsed = info.version_tuple
    if parsed is None:
        why = ("Harbor hides its version from anonymous callers" if info.version is None or not info.authenticated
               else f"Harbor version {info.version!r} is not one pais can read")
        return FlavorChoice("cnai", f"{why}: cnai, which every released Harbor (2.13-2.15) needs for its model "
                                    "view; run `docker login` so pais can read the version, or pass --flavor cncf "
                                    "for Harbor 2.16+")
    shown = f"Harbor v{parsed[0]}.{parsed[1]}.{parsed[2]}"
    if parsed >= (2, 16, 0):
        return FlavorChoice("cncf", f"{shown}: 2.16+ shows models under the current vnd.cncf names")
    if parsed >= (2, 13, 0):
        return FlavorChoice("cnai", f"{shown}: released 2.13-2.15 show models only under vnd.cnai")
    return FlavorChoice("cnai", f"{shown} has no model view; cnai is what released 2.13-2.15 show after an upgrade")


# ---------------------------------------------------------------------------------------------
# Sizes

def parse_quota(text: str) -> int:
    """Bytes of a project quota (see `pais_cli.units`); -1 for "unlimited"/"-1", as Harbor stores it."""
    value = text.strip().lower()
    if value in ("-1", "unlimited", "none", "infinite"):
        return -1
    size = parse_size(text, "quota")
    if size <= 0:
        raise UsageError(f"a quota of {text!r} would forbid every push", "give a positive size, or -1 for no limit")
    return size


def format_quota(size: int) -> str:
    return "unlimited" if size < 0 else format_exact(size)


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class RobotResult:
    name: str  # as asked, e.g. "ci"
    full_name: str  # as Harbor names it, e.g. "robot$models+ci"; log in to the registry with this
    created: bool
    permission: RobotPermission
    robot_id: int | None = None
    secret: str | None = field(default=None, repr=False)  # only when just created; Harbor never shows it again
    notes: list[str] = field(default_factory=list)

    def to_json(self, include_secret: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not include_secret:
            data.pop("secret")
        return data


@dataclass
class ProjectResult:
    created: bool
    project: dict[str, Any]
    changes: list[str] = field(default_factory=list)  # what this run changed; empty when nothing
    notes: list[str] = field(default_factory=list)  # what was found and left as is
    robot: RobotResult | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def to_json(self, include_secret: bool = False) -> dict[str, Any]:
        return {
            "created": self.created,
            "project": self.project,
            "changes": list(self.changes),
            "notes": list(self.notes),
            "robot": self.robot.to_json(include_secret) if self.robot else None,
        }


@dataclass(frozen=True)
class HarborAccessory:
    digest: str
    type: str  # "subject.accessory" (any OCI referrer, e.g. a pais validation report), "signature.cosign", ...
    size: int


@dataclass
class HarborArtifact:
    """One row of `models list` as Harbor's API describes it (no manifest fetched)."""

    model: str  # repository name relative to the gallery, e.g. "baai/bge-small-en-v1.5"
    repository: str  # Harbor's full name, "project/model"
    digest: str
    tags: list[str]
    size: int
    push_time: str | None
    type: str | None  # Harbor's artifact type: "MODEL" for the model processor it has, "IMAGE", ...
    media_type: str | None  # the config media type
    manifest_media_type: str | None
    artifact_type: str | None
    accessories: list[HarborAccessory] = field(default_factory=list)

    @property
    def flavor(self) -> Flavor | None:
        for names in NAMES.values():
            if self.media_type == names.config or self.artifact_type == names.artifact_type:
                return names.flavor
        return None

    @property
    def is_model(self) -> bool:
        return self.flavor is not None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["flavor"] = self.flavor
        return data


# ---------------------------------------------------------------------------------------------
# The client


def repository_path(name: str) -> str:
    """A repository name as Harbor's REST paths want it: URL-encoded twice ("a/b" -> "a%252Fb").

    The document says so for every `repository_name` parameter: the router decodes once and
    would otherwise see extra path segments; the handler decodes the second time.
    """
    return quote(quote(name, safe=""), safe="")


def _segment(value: str) -> str:
    return quote(value, safe="")


class _BasicUpFront(httpx.Auth):
    """Basic on every API call, and no cookies: Harbor's CSRF check skips /api/ only for
    requests that carry no session cookie, so a `sid` picked up earlier must not ride along."""

    def __init__(self, credentials: Credentials | None) -> None:
        self.header = credentials.basic_header() if credentials and not credentials.identity_token else None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.pop("Cookie", None)
        if self.header:
            request.headers["Authorization"] = self.header
        yield request


@dataclass(frozen=True)
class HarborProject:
    """The Harbor project a registry gallery lives in, with the client to its API."""

    client: HarborClient
    name: str


class HarborClient:
    """Harbor's REST API on the host of a RegistryClient (same scheme, TLS and credentials)."""

    def __init__(self, client: RegistryClient, *, jobs: int = LIST_JOBS) -> None:
        self.client = client
        self.host = client.host
        self.jobs = jobs
        self._auth = _BasicUpFront(client.credentials)

    @property
    def authenticated(self) -> bool:
        return self._auth.header is not None

    # -- transport -----------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, what: str, ok: Sequence[int] = (200,),
                 params: Mapping[str, str | int] | None = None, json: Any = None,
                 headers: Mapping[str, str] | None = None, hint_403: str | None = None,
                 hint_404: str | None = None) -> Answer:
        # Every 4xx comes back here (5xx keep RegistryClient's bounded retries and mapping), so
        # the errors can say which Harbor operation failed rather than a generic registry line.
        response = self.client.request(method, API + path, ok=range(100, 500), params=params, json=json,
                                       headers=headers, auth=self._auth)
        code = response.status_code
        if code in ok:
            return response
        detail = _error_detail(response)
        if code == 401:
            err = self.client.error(response, f"{method} {path}")
            hint = err.hint
            if self.client.credentials is not None and self.client.credentials.identity_token:
                hint = (f"Harbor's API takes a username and password (or CLI secret), not the identity token "
                        f"in the Docker config: run `pais login -u USER {self.host}` (or docker login -u USER {self.host}), or set "
                        "PAIS_REGISTRY_USERNAME and PAIS_REGISTRY_PASSWORD")
            raise AuthenticationError(f"{err.message} (Harbor API: {what})", hint)
        if code == 403:
            who = f"account {self.client.credentials.username!r}" if self.authenticated and self.client.credentials \
                else "anonymous access"
            raise PermissionDenied(f"Harbor at {self.host} does not allow {who} to {what}{detail}",
                                   hint_403 or "ask a Harbor administrator or the project's admin for this right")
        if code == 404:
            raise RegistryNotFound(f"Harbor at {self.host}: not found while trying to {what}{detail}",
                           hint_404 or "check the project and repository names")
        raise RegistryError(f"Harbor at {self.host} answered HTTP {code} to {method} {API}{path} ({what}){detail}",
                            "check the Harbor version (pais follows Harbor's v2.15 API) and its logs")

    def _pages(self, path: str, params: Mapping[str, str | int] | None = None, *, what: str,
               headers: Mapping[str, str] | None = None, hint_403: str | None = None,
               hint_404: str | None = None) -> Iterator[dict[str, Any]]:
        """Items of a paged list: page=1.. with page_size=100 until X-Total-Count (or, without it,
        Link rel="next", or a short page) says there is no more.

        Pages are built here rather than followed from Link: Harbor writes Link's query unescaped.
        """
        seen = 0
        for page in range(1, MAX_PAGES + 1):
            query = {**(params or {}), "page": page, "page_size": PAGE_SIZE}
            r = self._request("GET", path, params=query, headers=headers, what=what, hint_403=hint_403,
                              hint_404=hint_404)
            items = r.json() or []
            if not isinstance(items, list):
                raise RegistryError(f"Harbor at {self.host} sent a {type(items).__name__} where a list belongs ({what})",
                                    "check the Harbor version")
            for item in items:
                if isinstance(item, dict):
                    yield item
            seen += len(items)
            total = _int_header(r, "X-Total-Count")
            if not items:
                return
            if total is not None:
                if seen >= total:
                    return
            elif "Link" in r.headers:
                if not _has_next(r.headers["Link"]):
                    return
            elif len(items) < PAGE_SIZE:
                return
        raise RegistryError(f"Harbor at {self.host} kept paging past {MAX_PAGES} pages ({what})", "check Harbor's logs")

    # -- detection -----------------------------------------------------------------------------

    def system_info(self) -> HarborInfo:
        """Harbor or not, and its version where the caller may see it (2.13+ hides it anonymously)."""
        r = self.client.request("GET", f"{API}/systeminfo", ok=range(100, 500), auth=self._auth)
        if r.status_code != 200:
            return HarborInfo(None, False, self.authenticated)
        try:
            body = r.json()
        except ValueError:
            return HarborInfo(None, False, self.authenticated)
        if not isinstance(body, dict) or not (_GENERAL_INFO_KEYS & body.keys()):
            return HarborInfo(None, False, self.authenticated)
        version = body.get("harbor_version")
        return HarborInfo(version if isinstance(version, str) and version else None, True, self.authenticated)

    # -- projects ------------------------------------------------------------------------------

    def project_exists(self, name: str) -> bool:
        # HEAD /projects?project_name= is the documented existence check: v2.15.2's
        # getProject documents no 404 at all.
        r = self._request("HEAD", "/projects", params={"project_name": name}, ok=(200, 404),
                          what=f"check whether project {name!r} exists")
        return r.status_code == 200

    def get_project(self, name: str) -> dict[str, Any]:
        # X-Is-Resource-Name: a project named "123" would otherwise be read as an ID.
        r = self._request("GET", f"/projects/{_segment(name)}", headers={"X-Is-Resource-Name": "true"},
                          what=f"read project {name!r}", hint_404="check the project name; `pais gallery init` creates it")
        project = r.json()
        if not isinstance(project, dict):
            raise RegistryError(f"Harbor at {self.host} sent no project object for {name!r}", "check the Harbor version")
        return project

    def project_quota(self, project_id: int) -> int | None:
        """The project's storage limit in bytes (-1: none), or None where the quota is not readable."""
        try:
            quotas = list(self._pages("/quotas", {"reference": "project", "reference_id": str(project_id)},
                                      what="read the project's quota"))
        except PermissionDenied:
            return None  # reading quotas needs more than project admin on some setups; not worth failing init
        for quota in quotas:
            storage = (quota.get("hard") or {}).get("storage")
            if isinstance(storage, int):
                return storage
        return None

    def ensure_project(self, name: str, public: bool = False, storage_limit_bytes: int | None = None) -> ProjectResult:
        """Create the project when absent; otherwise report it as it is (nothing is changed)."""
        check_project_name(name)
        if storage_limit_bytes is not None and (storage_limit_bytes == 0 or storage_limit_bytes < -1):
            raise UsageError(f"invalid storage limit {storage_limit_bytes}",
                             "give a positive number of bytes, or -1 for no limit")
        if not self.project_exists(name):
            body: dict[str, Any] = {"project_name": name, "metadata": {"public": "true" if public else "false"}}
            if storage_limit_bytes is not None:
                body["storage_limit"] = storage_limit_bytes
            r = self._request("POST", "/projects", json=body, ok=(201, 409), what=f"create project {name!r}",
                              hint_403="creating projects may be limited to Harbor administrators "
                                       "(project_creation_restriction); ask one, or create the project in Harbor's UI")
            if r.status_code == 201:
                changes = [f"created project {name!r} ({'public' if public else 'private'}"
                           + (f", quota {format_quota(storage_limit_bytes)}" if storage_limit_bytes is not None else "")
                           + ")"]
                return ProjectResult(True, self.get_project(name), changes)
            # 409: created meanwhile by someone else; from here on it is an existing project.
            result = ProjectResult(False, self.get_project(name),
                                   notes=[f"project {name!r} was created by someone else just now; left as is"])
        else:
            result = ProjectResult(False, self.get_project(name), notes=[f"project {name!r} exists; left as is"])
        self._compare(result, public, storage_limit_bytes)
        return result

    def _compare(self, result: ProjectResult, public: bool, storage_limit_bytes: int | None) -> None:
        """Say where an existing project differs from what was asked; change nothing."""
        is_public = str((result.project.get("metadata") or {}).get("public", "false")).lower() == "true"
        if is_public != public:
            result.notes.append(f"project is {'public' if is_public else 'private'}, not "
                                f"{'public' if public else 'private'} as asked; change it in Harbor's UI if intended")
        project_id = result.project.get("project_id")
        if storage_limit_bytes is not None and isinstance(project_id, int):
            current = self.project_quota(project_id)
            if current is not None and current != storage_limit_bytes:
                result.notes.append(f"project quota is {format_quota(current)}, not {format_quota(storage_limit_bytes)} "
                                    "as asked; a Harbor administrator can change it under Projects > Quotas")

    # -- immutable tags --------------------------------------------------------------------------

    def immutable_rules(self, project: str) -> list[dict[str, Any]]:
        return list(self._pages(f"/projects/{_segment(project)}/immutabletagrules",
                                headers={"X-Is-Resource-Name": "true"},
                                what=f"list the immutable-tag rules of project {project!r}",
                                hint_403="immutable-tag rules need the project's admin role"))

    def ensure_immutable_rule(self, project: str, pattern: str) -> tuple[bool, str]:
        """Make tags matching `pattern` (doublestar, e.g. "v*") immutable in every repository.

        (added, message). An identical rule, enabled or not, counts as present: a disabled one was
        disabled by someone on purpose and is reported, not re-enabled.
        """
        if not pattern.strip():
            raise UsageError("empty --immutable-tags pattern", "give a tag pattern such as 'v*' or '**'")
        for rule in self.immutable_rules(project):
            if _is_same_rule(rule, pattern):
                if rule.get("disabled"):
                    return False, f"immutable-tag rule {pattern!r} exists but is disabled; left as is"
                return False, f"immutable-tag rule {pattern!r} already present"
        body = {
            "disabled": False,
            "action": "immutable",
            "template": "immutable_template",
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": pattern}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
        }
        self._request("POST", f"/projects/{_segment(project)}/immutabletagrules", json=body, ok=(201,),
                      headers={"X-Is-Resource-Name": "true"},
                      what=f"add an immutable-tag rule to project {project!r}",
                      hint_403="adding immutable-tag rules needs the project's admin role")
        return True, f"added immutable-tag rule: tags matching {pattern!r} in every repository"

    # -- robots ----------------------------------------------------------------------------------

    def project_robots(self, project_id: int) -> list[dict[str, Any]]:
        # ListRobot filters by `q` only: Level=project needs ProjectID (robot.go ListRobot).
        return list(self._pages("/robots", {"q": f"Level=project,ProjectID={project_id}"},
                                what="list the project's robot accounts",
                                hint_403="managing robot accounts needs the project's admin role",
                                hint_404="check that the project exists"))

    def ensure_robot(self, project: str, name: str, permission: RobotPermission = "pull", *,
                     project_id: int | None = None) -> RobotResult:
        """A project robot account that can pull (or pull and push) the project's repositories.

        Its secret comes back only when it is created here: Harbor never shows it again.
        """
        if not _ROBOT_NAME.match(name):
            raise UsageError(f"invalid robot name {name!r}",
                             "use lowercase letters and digits, with . _ or - between them (Harbor's rule), e.g. ci-pull")
        if permission not in ("pull", "push"):
            raise UsageError(f"unknown robot permission {permission!r}", "use --robot-permission pull or push")
        if project_id is None:
            pid = self.get_project(project).get("project_id")
            if not isinstance(pid, int):
                raise RegistryError(f"Harbor sent project {project!r} without an ID", "check the Harbor version")
            project_id = pid
        for robot in self.project_robots(project_id):
            if _robot_matches(str(robot.get("name", "")), project, name):
                result = RobotResult(name, str(robot.get("name")), False, permission, robot.get("id"))
                result.notes.append(f"robot account {result.full_name!r} exists; its secret cannot be shown again "
                                    "(refresh it in Harbor's UI if it is lost)")
                granted = _granted_actions(robot, project)
                wanted = {(a["resource"], a["action"]) for a in robot_access(permission)}
                if not wanted <= granted:
                    result.notes.append(f"robot account {result.full_name!r} lacks some {permission} rights; left as is")
                return result
        body = {
            "name": name,
            "description": f"pais: {permission} models in {project}",
            "level": "project",
            "duration": -1,
            "disable": False,
            "permissions": [{"kind": "project", "namespace": project, "access": robot_access(permission)}],
        }
        r = self._request("POST", "/robots", json=body, ok=(201, 409), what=f"create robot account {name!r} in {project!r}",
                          hint_403="creating robot accounts needs the project's admin role")
        if r.status_code == 409:  # created meanwhile; it exists, its secret is not ours to show
            return RobotResult(name, f"robot${project}+{name}", False, permission,
                               notes=[f"robot account {name!r} was created by someone else just now; "
                                      "its secret cannot be shown"])
        created = r.json() if r.content else {}
        secret = created.get("secret") if isinstance(created, dict) else None
        if not secret:
            raise RegistryError(f"Harbor created robot account {name!r} but sent no secret",
                                "delete the robot in Harbor's UI and run again")
        return RobotResult(name, str(created.get("name") or f"robot${project}+{name}"), True, permission,
                           created.get("id"), secret)

    # -- gallery init ------------------------------------------------------------------------------

    def init_project(self, name: str, *, public: bool = False, storage_limit: int | str | None = None,
                     immutable_tags: str | None = None, robot: str | None = None,
                     robot_permission: RobotPermission = "pull") -> ProjectResult:
        """`gallery init` on Harbor: the project, then its immutable-tag rule and robot, each only
        when missing. A second identical run changes nothing and has empty `changes`."""
        limit = parse_quota(storage_limit) if isinstance(storage_limit, str) else storage_limit
        result = self.ensure_project(name, public=public, storage_limit_bytes=limit)
        if immutable_tags:
            added, message = self.ensure_immutable_rule(name, immutable_tags)
            (result.changes if added else result.notes).append(message)
        if robot:
            pid = result.project.get("project_id")
            result.robot = self.ensure_robot(name, robot, robot_permission, project_id=pid if isinstance(pid, int) else None)
            if result.robot.created:
                result.changes.append(f"created robot account {result.robot.full_name!r} ({robot_permission}); "
                                      "its secret is shown once")
            else:
                result.notes.extend(result.robot.notes)
        if not result.changes:
            result.notes.append("nothing changed")
        return result

    # -- listing ---------------------------------------------------------------------------------

    def repositories(self, project: str) -> list[dict[str, Any]]:
        return list(self._pages(f"/projects/{_segment(project)}/repositories",
                                what=f"list the repositories of project {project!r}",
                                hint_403=f"ask the admin of project {project!r} to add this account as a member "
                                         "(any role can list)",
                                hint_404=f"check that project {project!r} exists on {self.host}"))

    def artifacts(self, project: str, repository: str) -> list[dict[str, Any]]:
        """Artifacts of one repository (`repository` without the project), with tags and accessories."""
        return list(self._pages(f"/projects/{_segment(project)}/repositories/{repository_path(repository)}/artifacts",
                                {"with_tag": "true", "with_accessory": "true"},
                                what=f"list the artifacts of {project}/{repository}"))

    def list_models(self, namespace: str, model: str | None = None) -> list[HarborArtifact]:
        """Every artifact of the gallery at `namespace` ("project" or "project/prefix"), one row per
        digest, from Harbor's database: 1 request per 100 repositories, then 1 per repository (in
        parallel). Rows that are not ModelPack models are kept; `is_model` tells them apart."""
        project, _, prefix = namespace.partition("/")
        base = f"{prefix}/" if prefix else ""
        if model:
            names = [f"{base}{model}"]
        else:
            full = [str(r.get("name", "")) for r in self.repositories(project)]
            names = sorted(n[len(project) + 1:] for n in full if n.startswith(f"{project}/{base}"))

        def rows(repo: str) -> list[HarborArtifact]:
            try:
                found = self.artifacts(project, repo)
            except NotFound as exc:
                if model:
                    raise RegistryNotFound(f"no model {model!r} in {self.host}/{namespace}",
                                   "run `pais models list` to see what the gallery holds") from exc
                return []  # deleted between the two listings
            return [_artifact_row(a, project, repo[len(base):]) for a in found]

        with ThreadPoolExecutor(max_workers=max(1, self.jobs)) as pool:
            out = [row for batch in pool.map(rows, names) for row in batch]
        return sorted(out, key=lambda a: (a.model, a.tags == [], a.tags, a.digest))

    # -- copy ------------------------------------------------------------------------------------

    def close(self) -> None:
        self.client.close()


# ---------------------------------------------------------------------------------------------
# Helpers


def check_project_name(name: str) -> str:
    if not name or len(name) > 255 or not _PROJECT_NAME.match(name):
        raise UsageError(f"invalid Harbor project name {name!r}",
                         "a Harbor project is one path segment of lowercase letters and digits with . _ - between, "
                         "e.g. dev-models")
    return name


def robot_access(permission: RobotPermission) -> list[dict[str, str]]:
    """Access entries for a project robot. Beyond repository pull (and push), the list/read rights
    let the same robot run `models list` through Harbor's API; artifact create lets it be the
    destination of Harbor's copy (promote)."""
    access = [("repository", "pull"), ("repository", "list"), ("artifact", "read"), ("artifact", "list"),
              ("tag", "list"), ("accessory", "list")]
    if permission == "push":
        access += [("repository", "push"), ("artifact", "create"), ("tag", "create")]
    return [{"resource": resource, "action": action} for resource, action in access]


def _granted_actions(robot: Mapping[str, Any], project: str) -> set[tuple[str, str]]:
    granted: set[tuple[str, str]] = set()
    for perm in robot.get("permissions") or []:
        if isinstance(perm, dict) and perm.get("namespace") in (project, "*"):
            for access in perm.get("access") or []:
                if isinstance(access, dict):
                    granted.add((str(access.get("resource")), str(access.get("action"))))
    return granted


def _robot_matches(full_name: str, project: str, name: str) -> bool:
    # Harbor lists project robots as "<prefix><project>+<name>"; the prefix ("robot$" by default)
    # is configurable, so match on what follows it.
    head, plus, tail = full_name.rpartition("+")
    return bool(plus) and tail == name and head.endswith(project) and (
        len(head) == len(project) or not head[-len(project) - 1].isalnum())


def _selector(sel: Any) -> tuple[str, str, str] | None:
    if not isinstance(sel, dict):
        return None
    return str(sel.get("kind")), str(sel.get("decoration")), str(sel.get("pattern"))


def _is_same_rule(rule: Mapping[str, Any], pattern: str) -> bool:
    tags = [_selector(s) for s in rule.get("tag_selectors") or []]
    scopes = [_selector(s) for s in ((rule.get("scope_selectors") or {}).get("repository") or [])]
    return (rule.get("action", "immutable") == "immutable"
            and tags == [("doublestar", "matches", pattern)]
            and scopes == [("doublestar", "repoMatches", "**")])


def _artifact_row(a: Mapping[str, Any], project: str, model: str) -> HarborArtifact:
    accessories = [HarborAccessory(str(x.get("digest", "")), str(x.get("type", "")), int(x.get("size") or 0))
                   for x in a.get("accessories") or [] if isinstance(x, dict)]
    tags = sorted(str(t.get("name")) for t in a.get("tags") or [] if isinstance(t, dict) and t.get("name"))
    return HarborArtifact(
        model=model,
        repository=str(a.get("repository_name") or f"{project}/{model}"),
        digest=str(a.get("digest", "")),
        tags=tags,
        size=int(a.get("size") or 0),
        push_time=a.get("push_time"),
        type=a.get("type"),
        media_type=a.get("media_type"),
        manifest_media_type=a.get("manifest_media_type"),
        artifact_type=a.get("artifact_type"),
        accessories=accessories,
    )


def _error_detail(response: Answer) -> str:
    # Harbor's `Errors` body: {"errors": [{"code": ..., "message": ...}]}
    try:
        errors = response.json().get("errors") or []
        parts = [f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
    except (ValueError, AttributeError):
        return ""
    return f" ({'; '.join(parts)})" if parts else ""


def _int_header(response: Answer, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def _has_next(link: str) -> bool:
    # Harbor joins links with " , " (lib/link.go): `<...>; rel="prev" , <...>; rel="next"`.
    return any(re.search(r';\s*rel="?next"?', part) for part in link.split(","))
