"""One documented JSON shape per command: each is run with -o json and its output validated
against docs/schemas (conftest.pais does the validating); every schema is exercised here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pais_cli.cli.app import app
from tests.conftest import SCHEMAS, Run, check_json_output, json_schema, pais
from tests.support.hub import FakeHub
from tests.support.models import write_embedding_model
from tests.support.registry import RegistryServer


def test_every_command_output_matches_its_schema(tmp_path: Path, tls_registry: RegistryServer, registry: RegistryServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[str] = set()

    def run(*args: str, stdin: str | None = None) -> Run:
        result = CliRunner().invoke(app, list(args), input=stdin)
        done = Run(result.exit_code, result.stdout, result.stderr)
        assert done.exit_code == 0, f"{args}: {done.stderr}"
        check_json_output(args, done)
        seen.add(f"{args[0]}-{args[1]}" if args[0] in ("models", "gallery", "endpoints") else args[0])
        return done

    model = write_embedding_model(tmp_path / "bge")
    store, other = str(tmp_path / "g"), str(tmp_path / "g2")
    with FakeHub() as hub:
        hub.commit("acme/bge", {p.relative_to(model).as_posix(): p.read_bytes() for p in model.rglob("*") if p.is_file()})
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        run("models", "download", "acme/bge", "--dest", str(tmp_path / "dl"), "-o", "json")
    run("gallery", "init", "-s", store, "--name", "dev", "-o", "json")
    run("gallery", "list", "-o", "json")
    digest = json.loads(run("models", "push", str(model), "-m", "acme/bge:v1", "-s", store, "-o", "json").stdout)["digest"]
    run("models", "pull", "acme/bge:v1", "-s", store, "--dest", str(tmp_path / "p"), "-o", "json")
    run("models", "list", "-s", store, "-o", "json")
    run("models", "validate", str(model), "-o", "json")
    run("models", "inspect", f"acme/bge@{digest}", "-s", store, "-o", "json")
    run("models", "promote", "acme/bge:v1", "--from", store, "--to", other, "-o", "json")
    run("models", "delete", "acme/bge:v1", "-s", other, "--yes", "-o", "json")
    run("gallery", "gc", "-s", other, "-o", "json")
    served = f"{registry.host}/models/schemas/bge:v1"  # a cluster pulls from a registry, not a directory
    assert pais("models", "push", str(model), "-m", served).exit_code == 0
    run("endpoints", "deploy", "-m", served, "-r", "acme/bge", "--manifests-dir", str(tmp_path / "d"), "-o", "json")
    run("endpoints", "delete", "-r", "acme/bge", "-o", "json")
    run("login", tls_registry.host, "-u", tls_registry.username or "", "--password-stdin", "--ca-file",
        str(tls_registry.ca_file), "-o", "json", stdin=f"{tls_registry.password}\n")
    run("logout", tls_registry.host, "-o", "json")
    run("gallery", "remove", "dev", "-o", "json")
    failed = pais("models", "pull", "acme/none:v1", "-s", store, "-o", "json")
    assert failed.exit_code == 1 and failed.stdout == ""
    seen.add("error")
    listed = json.loads((Path(__file__).parent.parent / "docs" / "schemas" / "endpoints-list.schema.json").read_text())
    json_schema("endpoints-list").validate([])  # needs a cluster or gateway: tests/test_endpoints_list.py runs it
    assert listed["type"] == "array"
    seen.add("endpoints-list")
    published = {p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json")}
    assert published == seen, f"schemas without a run: {published - seen}; runs without a schema: {seen - published}"
