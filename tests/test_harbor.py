"""pais's Harbor REST client (`pais_cli.gallery.harbor`) against Harbor's published API document.

Harbor cannot run here (no network, no container images), so these tests check the client
against Harbor's published API document, `tests/specs/harbor-swagger-v2.15.2.yaml`, not against
a live Harbor. A fake Harbor (tests/support/harbor_spec.py) serves the client on 127.0.0.1 and
checks EVERY request it receives against the operation it targets in that document (path
template including the twice-encoded repository name, method, required parameters and their
types, the JSON body against its `definitions` schema) and every response it sends back against
the response schema for that status code, the anonymous systeminfo without `harbor_version`
included. Each test ends by asserting that nothing failed those checks.

What the document does not say (robot naming, ListRobot's `q`, the Link format, which
systeminfo fields anonymous callers see) the fake copies from Harbor's v2.15 handlers.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pais_cli.errors import AuthenticationError, NotFound, PermissionDenied, UsageError
from pais_cli.gallery.auth import Credentials
from pais_cli.gallery.harbor import (
    HarborClient,
    HarborInfo,
    default_flavor,
    parse_harbor_version,
    parse_quota,
    repository_path,
)
from pais_cli.gallery.stores.registry import RegistryClient, TransportOptions
from tests.support.harbor_spec import FakeHarbor, HarborSpec

ADMIN = Credentials("admin", "Harbor12345", "test")
DEV = Credentials("dev", "Dev12345", "test")
CNAI_CONFIG = "application/vnd.cnai.model.config.v1+json"
CNCF_CONFIG = "application/vnd.cncf.model.config.v1+json"
CNCF_MANIFEST = "application/vnd.cncf.model.manifest.v1+json"
REPORT_DIGEST = "sha256:" + "e" * 64


@pytest.fixture(scope="module")
def spec() -> HarborSpec:
    return HarborSpec()


@pytest.fixture(autouse=True)
def no_ambient_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anonymous means anonymous: no Docker config or env credentials leak in."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    for var in ("PAIS_REGISTRY_USERNAME", "PAIS_REGISTRY_PASSWORD"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def harbor(spec: HarborSpec) -> Iterator[FakeHarbor]:
    with FakeHarbor(spec) as fake:
        yield fake
        # Whatever else a test checks: nothing the client sent, and nothing the fake answered,
        # may disagree with Harbor's document.
        assert fake.violations == []


def connect(fake: FakeHarbor, credentials: Credentials | None = ADMIN) -> HarborClient:
    # credentials=None would make RegistryClient look in the (empty) Docker config: anonymous.
    return HarborClient(RegistryClient(fake.host, TransportOptions(plain_http=True), credentials))


# ---------------------------------------------------------------------------------------------
# Detection and flavour


def test_systeminfo_with_credentials_shows_version_and_picks_cnai(harbor: FakeHarbor) -> None:
    info = connect(harbor).system_info()
    assert info == HarborInfo("v2.15.2-080b0220", True, True)
    assert info.version_tuple == (2, 15, 2)
    flavor, reason = default_flavor(info)
    assert flavor == "cnai"
    assert reason == "Harbor v2.15.2: released 2.13-2.15 show models only under vnd.cnai"
    [call] = harbor.calls(op_id="getSystemInfo")
    assert call.user == "admin"  # Basic sent up front: Harbor's API issues no Basic challenge


def test_systeminfo_anonymous_hides_version_and_says_why_cnai(harbor: FakeHarbor) -> None:
    info = connect(harbor, None).system_info()
    assert info == HarborInfo(None, True, False)
    flavor, reason = default_flavor(info)
    assert flavor == "cnai"
    assert "hides its version from anonymous callers" in reason and "docker login" in reason
    assert harbor.calls(op_id="getSystemInfo")[0].user is None


def test_newer_harbor_picks_cncf_and_override_wins(harbor: FakeHarbor) -> None:
    harbor.version = "v2.16.0-1c7d8314"
    info = connect(harbor).system_info()
    assert default_flavor(info) == ("cncf", "Harbor v2.16.0: 2.16+ shows models under the current vnd.cncf names")
    assert default_flavor(info, "cnai") == ("cnai", "--flavor cnai given")
    with pytest.raises(UsageError):
        default_flavor(info, "oci")


def test_flavour_table() -> None:
    assert default_flavor(HarborInfo("v2.12.3-abc", True, True)).flavor == "cnai"
    assert default_flavor(HarborInfo("v2.13.0-abc", True, True)).flavor == "cnai"
    assert default_flavor(HarborInfo("v3.0.0", True, True)).flavor == "cncf"
    assert default_flavor(HarborInfo(None, False)).flavor == "cncf"  # plain registry: current names
    assert default_flavor(HarborInfo("dev", True, True)).flavor == "cnai"
    assert parse_harbor_version("v2.15.2-080b0220") == (2, 15, 2)
    assert parse_harbor_version("2.14") == (2, 14, 0)
    assert parse_harbor_version("dev") is None


def test_a_plain_distribution_registry_is_not_harbor(tmp_path: Path) -> None:
    """A real CNCF distribution registry (the docker-registry package) answers 404 on /api/."""
    from tests.support.registry import REGISTRY_BIN, start_registry

    if not Path(REGISTRY_BIN).exists():
        pytest.fail(f"{REGISTRY_BIN} not installed: run `make test`")
    server = start_registry("plain", tmp_path / "registry")
    try:
        client = HarborClient(RegistryClient(server.host, TransportOptions(plain_http=True), None))
        info = client.system_info()
        assert info == HarborInfo(None, False, False)
        assert default_flavor(info).flavor == "cncf"
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# Sizes


@pytest.mark.parametrize(("text", "size"), [
    ("500GiB", 500 * 2**30), ("1TiB", 2**40), ("1.5TiB", 3 * 2**39), ("500GB", 500 * 10**9), ("200Gi", 200 * 2**30),
    ("2 tb", 2 * 10**12), ("1073741824", 2**30), ("-1", -1), ("unlimited", -1),
])
def test_parse_quota(text: str, size: int) -> None:
    assert parse_quota(text) == size


@pytest.mark.parametrize("text", ["", "GiB", "5 parsecs", "-5GiB", "0", "0GiB"])
def test_parse_quota_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        parse_quota(text)


# ---------------------------------------------------------------------------------------------
# gallery init


def test_init_creates_project_with_quota_then_second_run_changes_nothing(harbor: FakeHarbor) -> None:
    client = connect(harbor)
    client.system_info()  # Harbor hands out a session cookie here; it must not ride along to POSTs
    first = client.init_project("dev-models", storage_limit="500GiB")
    assert first.created is True
    assert first.changes == ["created project 'dev-models' (private, quota 500GiB)"]
    assert first.project["name"] == "dev-models"
    assert first.project["metadata"]["public"] == "false"
    assert harbor.quotas[first.project["project_id"]] == 500 * 2**30
    [post] = harbor.calls("POST", "createProject")
    assert post.status == 201

    harbor.reset_log()
    second = client.init_project("dev-models", storage_limit="500GiB")
    assert second.created is False and second.changes == [] and not second.changed
    assert "nothing changed" in second.notes
    assert harbor.calls("POST") == [] and harbor.calls("PUT") == [] and harbor.calls("DELETE") == []
    assert [c.op_id for c in harbor.requests] == ["headProject", "getProject", "listQuotas"]
    assert all(c.user == "admin" for c in harbor.requests)


def test_existing_project_is_reported_as_is(harbor: FakeHarbor) -> None:
    harbor.add_project("shared", public=True, storage_limit=2**40)
    result = connect(harbor).ensure_project("shared", public=False, storage_limit_bytes=500 * 2**30)
    assert result.created is False and result.changes == []
    assert any("public, not private" in n for n in result.notes)
    assert any("quota is 1TiB, not 500GiB" in n for n in result.notes)
    assert harbor.calls("POST") == []
    assert harbor.projects["shared"]["metadata"]["public"] == "true"  # untouched


def test_project_name_is_checked_before_any_request(harbor: FakeHarbor) -> None:
    with pytest.raises(UsageError):
        connect(harbor).ensure_project("Models/Dev")
    assert harbor.requests == []


def test_immutable_tag_rule_is_added_once(harbor: FakeHarbor) -> None:
    client = connect(harbor)
    first = client.init_project("prod-models", immutable_tags="v*")
    assert "added immutable-tag rule: tags matching 'v*' in every repository" in first.changes
    second = client.init_project("prod-models", immutable_tags="v*")
    assert second.changes == [] and "immutable-tag rule 'v*' already present" in second.notes
    [rule] = harbor.rules[first.project["project_id"]]
    assert rule["tag_selectors"] == [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}]
    assert rule["scope_selectors"] == {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}
    assert rule["action"] == "immutable" and rule["disabled"] is False
    assert len(harbor.calls("POST", "CreateImmuRule")) == 1

    added, _ = client.ensure_immutable_rule("prod-models", "release-**")  # another pattern is another rule
    assert added and len(harbor.rules[first.project["project_id"]]) == 2


def test_robot_is_created_once_and_its_secret_returned_once(harbor: FakeHarbor) -> None:
    client = connect(harbor)
    first = client.init_project("dev-models", robot="ci", robot_permission="push")
    robot = first.robot
    assert robot is not None and robot.created is True
    assert robot.full_name == "robot$dev-models+ci"
    assert robot.secret and len(robot.secret) >= 16
    assert robot.secret not in repr(robot) and "secret" not in first.to_json()["robot"]
    assert first.to_json(include_secret=True)["robot"]["secret"] == robot.secret
    [stored] = harbor.robots
    assert stored["level"] == "project" and stored["duration"] == -1
    [perm] = stored["permissions"]
    assert perm["kind"] == "project" and perm["namespace"] == "dev-models"
    actions = {(a["resource"], a["action"]) for a in perm["access"]}
    assert {("repository", "pull"), ("repository", "push"), ("repository", "list")} <= actions

    # The secret is a working credential (the fake accepts robots on the API as Harbor does).
    harbor.add_artifact("dev-models", "acme/tiny", tags=("v1",))
    as_robot = connect(harbor, Credentials(robot.full_name, robot.secret, "test"))
    assert [r.model for r in as_robot.list_models("dev-models")] == ["acme/tiny"]

    second = client.init_project("dev-models", robot="ci", robot_permission="push")
    assert second.robot is not None and second.robot.created is False and second.robot.secret is None
    assert any("exists; its secret cannot be shown again" in n for n in second.notes)
    assert second.changes == [] and len(harbor.robots) == 1
    assert len(harbor.calls("POST", "CreateRobot")) == 1
    [listed] = harbor.calls(op_id="ListRobot")[-1:]
    assert listed.query["q"] == [f"Level=project,ProjectID={first.project['project_id']}"]


def test_robot_names_follow_harbors_rule(harbor: FakeHarbor) -> None:
    harbor.add_project("dev-models")
    with pytest.raises(UsageError):
        connect(harbor).ensure_robot("dev-models", "CI+push")
    assert harbor.calls("POST") == []


# ---------------------------------------------------------------------------------------------
# models list


def _seed_listing(harbor: FakeHarbor) -> None:
    harbor.add_project("models")
    for i in range(101):  # two pages of repositories at page_size=100
        harbor.add_artifact("models", f"bulk/m{i:03d}", tags=("v1",), size=10)
    harbor.add_artifact("models", "acme/tiny", tags=("v1", "approved"), size=4096,
                        accessories=((REPORT_DIGEST, "subject.accessory"),))
    harbor.add_artifact("models", "acme/tiny", tags=(), media_type=CNCF_CONFIG, artifact_type=CNCF_MANIFEST,
                        art_type="UNKNOWN")
    harbor.add_artifact("models", "org/team/bert", tags=("v2",))
    harbor.add_artifact("models", "tools/image", tags=("1.0",), media_type="application/vnd.oci.image.config.v1+json",
                        artifact_type=None, art_type="IMAGE")
    for i in range(130):  # two pages of artifacts in one repository
        harbor.add_artifact("models", "big/many", tags=(f"r{i}",), size=1)


def test_listing_pages_through_repositories_and_artifacts(harbor: FakeHarbor) -> None:
    _seed_listing(harbor)
    rows = connect(harbor).list_models("models")
    assert len(rows) == 101 + 2 + 1 + 1 + 130
    assert {r.model for r in rows} >= {"acme/tiny", "org/team/bert", "big/many", "bulk/m100", "tools/image"}

    tiny = [r for r in rows if r.model == "acme/tiny"]
    assert [r.tags for r in tiny] == [["approved", "v1"], []]  # tagged first, untagged revision kept
    assert tiny[0].repository == "models/acme/tiny" and tiny[0].size == 4096
    assert tiny[0].flavor == "cnai" and tiny[0].type == "MODEL" and tiny[0].push_time
    assert [(a.digest, a.type) for a in tiny[0].accessories] == [(REPORT_DIGEST, "subject.accessory")]
    assert tiny[1].flavor == "cncf" and tiny[1].artifact_type == CNCF_MANIFEST
    image = next(r for r in rows if r.model == "tools/image")
    assert not image.is_model and image.to_json()["flavor"] is None

    repos = harbor.calls("GET", "listRepositories")
    assert sorted(c.query["page"][0] for c in repos) == ["1", "2"]
    assert all(c.query["page_size"] == ["100"] for c in repos)
    many = [c for c in harbor.calls("GET", "listArtifacts") if "big%252Fmany" in c.path]
    assert sorted(c.query["page"][0] for c in many) == ["1", "2"]
    nested = [c.path for c in harbor.calls("GET", "listArtifacts") if "bert" in c.path]
    assert nested == ["/api/v2.0/projects/models/repositories/org%252Fteam%252Fbert/artifacts"]
    assert all(c.query["with_tag"] == ["true"] and c.query["with_accessory"] == ["true"]
               for c in harbor.calls("GET", "listArtifacts"))
    # 2 pages of 105 repositories, 1 page of artifacts per repository and 1 more for big/many
    assert len(harbor.requests) == 2 + 105 + 1


def test_listing_one_model_or_a_sub_namespace(harbor: FakeHarbor) -> None:
    _seed_listing(harbor)
    client = connect(harbor)
    harbor.reset_log()
    rows = client.list_models("models", model="org/team/bert")
    assert [(r.model, r.tags) for r in rows] == [("org/team/bert", ["v2"])]
    assert [c.op_id for c in harbor.requests] == ["listArtifacts"]

    rows = client.list_models("models/org")  # a gallery that is a prefix inside a project
    assert [(r.model, r.repository) for r in rows] == [("team/bert", "models/org/team/bert")]

    with pytest.raises(NotFound) as missing:
        client.list_models("models", model="acme/none")
    assert "acme/none" in str(missing.value)


def test_repository_names_are_encoded_twice() -> None:
    assert repository_path("a/b") == "a%252Fb"
    assert repository_path("org/team/bert") == "org%252Fteam%252Fbert"
    assert repository_path("tiny") == "tiny"


# ---------------------------------------------------------------------------------------------
# Errors


def test_anonymous_on_a_private_project_says_docker_login(harbor: FakeHarbor) -> None:
    harbor.add_project("private-models")
    with pytest.raises(AuthenticationError) as refused:
        connect(harbor, None).list_models("private-models")
    assert f"docker login {harbor.host}" in (refused.value.hint or "")


def test_wrong_password_is_an_authentication_error(harbor: FakeHarbor) -> None:
    harbor.add_project("private-models")
    with pytest.raises(AuthenticationError) as refused:
        connect(harbor, Credentials("admin", "wrong", "the test's Docker config")).list_models("private-models")
    assert "the test's Docker config" in refused.value.message
    assert "wrong" not in refused.value.message + (refused.value.hint or "")


def test_no_rights_is_permission_denied(harbor: FakeHarbor) -> None:
    harbor.add_project("private-models")
    client = connect(harbor, DEV)
    with pytest.raises(PermissionDenied) as denied:
        client.list_models("private-models")
    assert "'dev'" in denied.value.message and "member" in (denied.value.hint or "")
    with pytest.raises(PermissionDenied) as denied:
        client.ensure_immutable_rule("private-models", "v*")
    assert "admin" in (denied.value.hint or "")


def test_conflict_on_create_means_it_exists(harbor: FakeHarbor) -> None:
    harbor.race_create = {"raced"}  # someone else creates it between our HEAD and our POST
    result = connect(harbor).ensure_project("raced")
    assert result.created is False and result.changes == []
    assert any("created by someone else" in n for n in result.notes)
    [post] = harbor.calls("POST", "createProject")
    assert post.status == 409
    assert result.project["name"] == "raced"


def test_missing_project_is_not_found(harbor: FakeHarbor) -> None:
    with pytest.raises(NotFound) as missing:
        connect(harbor).list_models("nowhere")
    assert "nowhere" in (missing.value.hint or "")


# ---------------------------------------------------------------------------------------------
# The oracle itself


def test_the_spec_check_catches_what_it_should(spec: HarborSpec) -> None:
    """Guards the guard: requests that break the document are recorded as violations."""
    with FakeHarbor(spec) as fake:
        fake.add_project("models")
        fake.add_artifact("models", "a/b")
        auth = {"Authorization": "Basic " + base64.b64encode(b"admin:Harbor12345").decode()}
        base = f"http://{fake.host}/api/v2.0"
        with httpx.Client(headers=auth) as raw:
            raw.get(f"{base}/projects/models/repositories/a%2Fb/artifacts")  # encoded once
            raw.get(f"{base}/projects/models/repositories", params={"page_size": 500})  # above maximum
            raw.get(f"{base}/projects/models/repositories", params={"project": "x"})  # undeclared
            raw.post(f"{base}/projects", json={"project_name": "x", "metadata": {"public": False}})  # bool, not "false"
            raw.post(f"{base}/projects", json={"project_name": "y", "storage_limit": "5GiB"})  # string, not int64
            raw.head(f"{base}/projects")  # required project_name missing
            raw.get(f"{base}/projects/models", headers={"Cookie": "sid=x"})  # trips Harbor's CSRF
            raw.get(f"{base}/projects/models/no-such-thing")
            raw.get(f"{base}/projects/models", headers={"Authorization": "Bearer abc"})
            raw.get(f"{base}/projects/missing", headers={"X-Is-Resource-Name": "true"})  # 404: undeclared in v2.15.2
        text = "\n".join(fake.violations)
        for expected in ("encoded once", "maximum", "'project' is not in the document", "metadata/public",
                         "storage_limit", "required query parameter 'project_name'", "Cookie",
                         "no operation in the document", "'Bearer'", "status 404 is not declared"):
            assert expected in text, expected

    # and the fake's answers are held to the document too
    op, _ = spec.match("GET", "/api/v2.0/systeminfo") or (None, None)
    assert op is not None
    assert spec.check_response(op, 200, {"auth_mode": "db_auth", "self_registration": False}, {}, True) == []
    assert spec.check_response(op, 200, {"harbor_version": 2}, {}, True) != []
    assert spec.check_response(op, 401, None, {}, False) != []  # systeminfo declares no 401


def test_gallery_init_command_twice_against_harbor(spec: HarborSpec, registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """`pais gallery init` end to end on the spec-checked Harbor (its /v2/ forwarded to a real
    distribution registry, as Harbor's core fronts one): the project, quota, immutable-tag rule
    and robot are created once; the second run changes nothing and says so; every request the
    CLI made validates against harbor-swagger-v2.15.2.yaml."""
    from tests.conftest import pais

    monkeypatch.setenv("PAIS_REGISTRY_USERNAME", "admin")
    monkeypatch.setenv("PAIS_REGISTRY_PASSWORD", "Harbor12345")
    with FakeHarbor(spec, upstream=registry.host) as fake:
        store = f"{fake.host}/models"
        args = ("gallery", "init", "-s", store, "--quota", "500GiB", "--immutable-tags", "v*", "--robot", "ci",
                "--robot-permission", "push", "--show-secret", "--name", "dev", "-o", "json")
        first = pais(*args)
        assert first.exit_code == 0, first.stderr
        out = first.json()
        assert out["created"] is True and out["flavor"] == "cnai" and out["push_allowed"] is True
        assert "2.13-2.15" in out["harbor"]["flavor_reason"] and out["robot_secret"]
        assert out["harbor"]["robot"]["created"] is True
        second = pais(*args)
        assert second.exit_code == 0, second.stderr
        again = second.json()
        assert again["created"] is False and again["harbor"]["changes"] == [] and again["config_changed"] is False
        assert "robot_secret" not in again and "nothing changed" in second.stderr
        assert fake.violations == []
        posts = [r for r in fake.requests if r.method == "POST"]
        assert len(posts) == 3  # project, immutable rule, robot: all from the first run
