"""Names, tags, digests and gallery locations follow the OCI and Docker rules."""

from __future__ import annotations

import pytest

from pais_cli.errors import ConfigError, InvalidReference
from pais_cli.app.galleries import open_gallery, resolve_settings
from pais_cli.cli.settings import context
from pais_cli.gallery.reference import RevisionRef, check_model_name, check_tag, parse_registry
from tests.conftest import pais


@pytest.mark.parametrize("name", ["baai/bge-small-en-v1.5", "openai/gpt-oss-20b", "a", "a/b/c", "x__y", "a-----b"])
def test_valid_model_names(name: str) -> None:
    assert check_model_name(name) == name


@pytest.mark.parametrize("name", ["BAAI/bge", "a//b", "/a", "a/", "-a", "a_", "a b", "a/.b", "", "a" * 256])
def test_invalid_model_names(name: str) -> None:
    with pytest.raises(InvalidReference):
        check_model_name(name)


@pytest.mark.parametrize("tag", ["v1", "approved", "V1.2_rc-3", "_x", "a" * 128])
def test_valid_tags(tag: str) -> None:
    assert check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["-x", ".x", "a" * 129, "a/b", "a:b", "", "sha256-" + "a" * 64])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(InvalidReference):
        check_tag(tag)


def test_no_implicit_latest() -> None:
    with pytest.raises(InvalidReference, match="no implicit 'latest'"):
        RevisionRef.from_options(None, None)
    with pytest.raises(InvalidReference):
        RevisionRef.from_options("v1", "sha256:" + "a" * 64)
    with pytest.raises(InvalidReference):
        RevisionRef.from_options(None, "sha256:ABC")


@pytest.mark.parametrize(
    "store,host,namespace",
    [("harbor.example.com/models", "harbor.example.com", "models"), ("127.0.0.1:5000/dev", "127.0.0.1:5000", "dev"),
     ("localhost/a/b", "localhost", "a/b"), ("Registry.Example.com:443/p", "registry.example.com:443", "p")],
)
def test_registry_locations(store: str, host: str, namespace: str) -> None:
    location = parse_registry(store)
    assert (location.host, location.namespace) == (host, namespace)
    assert location.repository("acme/m") == f"{namespace}/acme/m"


@pytest.mark.parametrize("store", ["models/dev", "harbor.example.com", "harbor.example.com/", "h.example.com/UPPER"])
def test_ambiguous_store_is_refused_with_both_spellings(store: str) -> None:
    with pytest.raises(InvalidReference) as err:
        parse_registry(store)
    assert "HOST[:PORT]/PROJECT" in (err.value.hint or "") or "project" in err.value.message


def test_store_spelling_error_on_the_command_line() -> None:
    result = pais("models", "list", "--modelStore", "models/dev")
    assert result.exit_code == 2
    assert "HOST[:PORT]/PROJECT" in result.stderr and "./gallery" in result.stderr


@pytest.mark.parametrize("store", ["/srv/g", "./g", "../g", "~/g", "oci:g"])
def test_paths_are_galleries_on_disk(store: str) -> None:
    assert open_gallery(context(), store).kind == "disk"


def test_default_store_order(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    settings, name, source = resolve_settings(context(), None)
    assert source == "the embedded default gallery" and name is None
    assert settings.store.endswith("gallery")
    monkeypatch.setenv("PAIS_MODEL_STORE", str(tmp_path / "envgallery"))
    settings, _, source = resolve_settings(context(), None)
    assert settings.store == str(tmp_path / "envgallery") and "PAIS_MODEL_STORE" in source


def test_unknown_named_gallery() -> None:
    with pytest.raises(ConfigError, match="no gallery named 'dev'"):
        resolve_settings(context(), "dev")
