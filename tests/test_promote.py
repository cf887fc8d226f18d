"""`models promote`, `inspect` and `delete` against real registries (two repositories on one
distribution instance, to exercise mounting; two instances; the on-disk gallery)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import pais
from tests.support.registry import RegistryServer, start_registry


@pytest.fixture(scope="module")
def second_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = start_registry("plain", tmp_path_factory.mktemp("second-registry"))
    yield server
    server.stop()


def slug(tmp_path: Path) -> str:
    """A project name unique to the test: tmp_path names are unique but not OCI-shaped."""
    return "t" + "".join(c for c in tmp_path.name.lower() if c.isalnum())


def _push(model_dir: Path, model: str, store: str, tag: str = "approved") -> dict:
    result = pais("models", "push", str(model_dir), "-m", model, "-s", store, "-t", tag, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return result.json()


ROUTES = ["same-registry", "two-registries", "registry-to-disk", "disk-to-registry"]


@pytest.fixture(params=ROUTES)
def route(request: pytest.FixtureRequest, registry: RegistryServer, tmp_path: Path) -> tuple[str, str, str]:
    name = request.param
    if name == "same-registry":
        return name, f"{registry.host}/dev-{slug(tmp_path)}", f"{registry.host}/prod-{slug(tmp_path)}"
    if name == "two-registries":
        other: RegistryServer = request.getfixturevalue("second_registry")
        return name, f"{registry.host}/dev-{slug(tmp_path)}", f"{other.host}/prod-{slug(tmp_path)}"
    if name == "registry-to-disk":
        return name, f"{registry.host}/dev-{slug(tmp_path)}", str(tmp_path / "prod")
    return name, str(tmp_path / "dev"), f"{registry.host}/prod-{slug(tmp_path)}"


def test_promote_keeps_the_digest_and_the_report(route: tuple[str, str, str], tiny_model: Path, tmp_path: Path) -> None:
    name, dev, prod = route
    pushed = _push(tiny_model, "acme/tiny", dev)
    first = pais("models", "promote", "-m", "acme/tiny", "--from", dev, "--to", prod, "-t", "approved", "--as-tag", "prod", "-o", "json")
    assert first.exit_code == 0, first.stderr
    result = first.json()
    assert result["digest"] == pushed["digest"] and not result["converted"]
    assert result["reports_copied"] == 1 and result["validated"] is True
    if name == "same-registry":
        assert result["bytes_copied"] == 0 and result["blobs_mounted"] == 5  # 4 files + config, mounted
    else:
        assert result["bytes_copied"] == pushed["bytes_uploaded"]
    second = pais("models", "promote", "-m", "acme/tiny", "--from", dev, "--to", prod, "-t", "approved", "--as-tag", "prod", "-o", "json")
    assert second.exit_code == 0 and second.json()["bytes_copied"] == 0 and second.json()["reports_copied"] == 0
    listed = pais("models", "list", "-s", prod, "-o", "json").json()
    assert [(r["model"], r["digest"], r["tags"], r["validated"]) for r in listed] == [("acme/tiny", pushed["digest"], ["prod"], True)]
    pulled = pais("models", "pull", "-m", "acme/tiny", "-s", prod, "-t", "prod", "--require-validated", "--dest", str(tmp_path / "o"))
    assert pulled.exit_code == 0, pulled.stderr


def test_production_gallery_refuses_unvalidated(registry: RegistryServer, tiny_model: Path, tmp_path: Path) -> None:
    dev = f"{registry.host}/dev-unvalidated"
    prod = str(tmp_path / "prod")
    assert pais("gallery", "init", "-s", prod, "--production").exit_code == 0
    pais("models", "push", str(tiny_model), "-m", "acme/raw", "-s", dev, "-t", "candidate", "--skip-validation")
    refused = pais("models", "promote", "-m", "acme/raw", "--from", dev, "--to", prod, "-t", "candidate")
    assert refused.exit_code == 1 and "production gallery" in refused.stderr and "models validate" in refused.stderr
    assert pais("models", "list", "-s", prod, "-o", "json").json() == []


def test_convert_flavor_reports_the_new_digest(registry: RegistryServer, tiny_model: Path, tmp_path: Path) -> None:
    dev = f"{registry.host}/dev-flavors"
    legacy = str(tmp_path / "harbor-2-15-like")
    assert pais("gallery", "init", "-s", legacy, "--flavor", "cnai").exit_code == 0
    pushed = _push(tiny_model, "acme/tiny", dev)
    refused = pais("models", "promote", "-m", "acme/tiny", "--from", dev, "--to", legacy, "-t", "approved")
    assert refused.exit_code == 1 and "--convert-flavor" in refused.stderr  # refused, not a usage error
    converted = pais("models", "promote", "-m", "acme/tiny", "--from", dev, "--to", legacy, "-t", "approved",
                     "--convert-flavor", "-o", "json")
    assert converted.exit_code == 0, converted.stderr
    out = converted.json()
    assert out["converted"] and out["flavor"] == "cnai" and out["digest"] != pushed["digest"]
    assert out["source_digest"] == pushed["digest"]
    assert out["validated"] is True  # the report was attached again, to the new digest
    info = pais("models", "inspect", "-m", "acme/tiny", "-s", legacy, "-t", "approved", "-o", "json").json()
    assert info["flavor"] == "cnai" and info["digest"] == out["digest"]


def test_tag_conflict_in_destination(registry: RegistryServer, tiny_model: Path, tmp_path: Path) -> None:
    dev, prod = f"{registry.host}/dev-conflict", str(tmp_path / "prod")
    _push(tiny_model, "acme/tiny", dev, "v1")
    (tiny_model / "README.md").write_text("other\n")
    other = _push(tiny_model, "acme/tiny", prod, "prod")
    refused = pais("models", "promote", "-m", "acme/tiny", "--from", dev, "--to", prod, "-t", "v1", "--as-tag", "prod")
    assert refused.exit_code == 1 and other["digest"] in refused.stderr and "--force" in refused.stderr


def test_inspect_shows_files_config_tags_and_validation(registry: RegistryServer, tiny_model: Path) -> None:
    store = f"{registry.host}/inspect"
    pushed = _push(tiny_model, "acme/tiny", store, "v1")
    pais("models", "push", str(tiny_model), "-m", "acme/tiny", "-s", store, "-t", "prod")
    result = pais("models", "inspect", "-m", "acme/tiny", "-s", store, "-t", "v1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    info = result.json()
    assert info["digest"] == pushed["digest"] and info["tags"] == ["prod", "v1"]
    assert {f["path"]: f["kind"] for f in info["files"]}["model.safetensors"] == "weight"
    assert info["config"]["config"]["architecture"] == "LlamaForCausalLM"
    assert info["validated"] is True and info["report"]["checks"]["malware"] == "pass" and info["reports"] == 2
    table = pais("models", "inspect", "-m", "acme/tiny", "-s", store, "-d", pushed["digest"])
    assert table.exit_code == 0 and "model.safetensors" in table.stdout


def test_delete_a_tag_and_a_revision(tiny_model: Path, tmp_path: Path, registry: RegistryServer) -> None:
    for store in (str(tmp_path / "g"), f"{registry.host}/delete-{slug(tmp_path)}"):
        pushed = _push(tiny_model, "acme/tiny", store, "v1")
        refused = pais("models", "delete", "-m", "acme/tiny", "-s", store, "-t", "v1")  # no TTY, no --yes
        assert refused.exit_code == 2 and "--yes" in refused.stderr
        gone = pais("models", "delete", "-m", "acme/tiny", "-s", store, "-d", pushed["digest"], "--yes", "-o", "json")
        assert gone.exit_code == 0, gone.stderr
        assert gone.json()["revision_removed"] is True
        assert pais("models", "list", "-s", store, "-m", "acme/tiny", "-o", "json").json() == []
        missing = pais("models", "pull", "-m", "acme/tiny", "-s", store, "-t", "v1", "--dest", str(tmp_path / "x"))
        assert missing.exit_code == 1


def test_delete_only_a_tag_on_disk_keeps_the_revision(tiny_model: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "g")
    pushed = _push(tiny_model, "acme/tiny", store, "v1")
    assert pais("models", "delete", "-m", "acme/tiny", "-s", store, "-t", "v1", "--yes").exit_code == 0
    listed = pais("models", "list", "-s", store, "-o", "json").json()
    assert [(r["digest"], r["tags"], r["validated"]) for r in listed] == [(pushed["digest"], [], True)]
