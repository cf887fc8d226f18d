"""The embedded default gallery and other galleries on disk: OCI image layouts, one per model."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import pais


def test_default_gallery_is_used_and_named(tiny_model: Path, isolated_user: Path) -> None:
    result = pais("models", "push", str(tiny_model), "-m", "acme/tiny", "-t", "v1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert "embedded default gallery" in result.stderr
    layout = isolated_user / "data" / "gallery" / "acme" / "tiny"
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    digest = result.json()["digest"]
    # The tag, and the referrers tag schema index holding the validation report.
    assert sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]) == [
        "sha256-" + digest.split(":")[1], "v1"]
    assert (layout / "blobs" / "sha256" / result.json()["digest"].split(":")[1]).is_file()


def test_model_store_from_environment(tiny_model: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PAIS_MODEL_STORE", str(tmp_path / "envgallery"))
    result = pais("models", "push", str(tiny_model), "-m", "acme/tiny", "-t", "v1")
    assert result.exit_code == 0 and "PAIS_MODEL_STORE" in result.stderr
    assert (tmp_path / "envgallery" / "acme" / "tiny" / "index.json").exists()


def test_a_revision_that_loses_its_tag_stays_in_history(tiny_model: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "g")
    first = pais("models", "push", str(tiny_model), "-m", "acme/tiny", "-s", store, "-t", "prod", "-o", "json").json()
    (tiny_model / "README.md").write_text("new\n")
    second = pais("models", "push", str(tiny_model), "-m", "acme/tiny", "-s", store, "-t", "prod", "--force", "-o", "json").json()
    listed = pais("models", "list", "-s", store, "-o", "json").json()
    assert {(r["digest"], tuple(r["tags"])) for r in listed} == {(second["digest"], ("prod",)), (first["digest"], ())}
    pulled = pais("models", "pull", "-m", "acme/tiny", "-s", store, "-d", first["digest"], "--dest", str(tmp_path / "old"))
    assert pulled.exit_code == 0


def test_gallery_init_on_disk_is_idempotent_and_named(tmp_path: Path, tiny_model: Path) -> None:
    store = str(tmp_path / "prod-gallery")
    first = pais("gallery", "init", "-s", store, "--name", "prod", "--production", "--flavor", "cnai", "-o", "json")
    assert first.exit_code == 0, first.stderr
    assert first.json()["created"] is True and first.json()["config_changed"] is True
    second = pais("gallery", "init", "-s", store, "--name", "prod", "--production", "--flavor", "cnai", "-o", "json")
    assert second.json()["created"] is False and second.json()["config_changed"] is False
    assert "nothing changed" in second.stderr
    pushed = pais("models", "push", str(tiny_model), "-m", "acme/tiny", "-s", "prod", "-t", "v1", "-o", "json")
    assert pushed.exit_code == 0, pushed.stderr
    assert pushed.json()["flavor"] == "cnai"  # the named gallery's setting
    assert "named gallery" in pushed.stderr


def test_gallery_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    result = pais("gallery", "init", "-s", str(tmp_path / "busy"))
    assert result.exit_code == 1 and "not an empty directory" in result.stderr
