"""Every path, file and network input a command takes, given badly: each ends in one line of
error with a hint and the right exit code, never in "unexpected", and nothing is left half-written.

Unreadable files and directories are made unreadable for real: as root, `chmod 000` does not stop
reads, so those commands run under `setpriv` without the DAC override capabilities.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pais_cli.app.galleries import open_gallery
from pais_cli.cli.settings import context
from pais_cli.gallery.oci import Descriptor, build_manifest, sha256_digest
from tests.conftest import Run, pais
from tests.support.registry import RegistryServer

CNCF_LAYER = "application/vnd.cncf.model.weight.v1.raw"
CNCF_CONFIG = "application/vnd.cncf.model.config.v1+json"
CNCF_ARTIFACT = "application/vnd.cncf.model.manifest.v1+json"


def one_line_error(result: Run, code: int, *needles: str) -> None:
    """Exit `code`, an `error:` line and a `hint:` line, and no sign of an internal error."""
    print(f"exit {result.exit_code}: {' | '.join(result.stderr.strip().splitlines()[-2:])}")  # the record, with -s
    assert result.exit_code == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith(("error:", "hint:"))]
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def unprivileged(*args: str, env: dict[str, str] | None = None) -> Run:
    """`pais ARGS` as root without the capabilities that let root read anything."""
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is missing"
    done = subprocess.run([setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps",
                           "-dac_override,-dac_read_search", sys.executable, "-m", "pais_cli", *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


# ---------------------------------------------------------------------------------------------
# Stores and destinations


def test_a_store_that_is_a_file(tiny_model: Path, tmp_path: Path) -> None:
    (tmp_path / "g").write_text("not a gallery")
    one_line_error(pais("models", "push", str(tiny_model), "-m", "a/b", "-s", str(tmp_path / "g"), "-t", "v1"), 1,
                   str(tmp_path / "g"))
    one_line_error(pais("models", "list", "-s", str(tmp_path / "g")), 1, "not a pais gallery")


def test_a_store_under_proc(tiny_model: Path) -> None:
    one_line_error(pais("models", "push", str(tiny_model), "-m", "a/b", "-s", "/proc/pais-gallery", "-t", "v1"), 1, "/proc")


def test_a_read_only_store(tiny_model: Path, tmp_path: Path) -> None:
    store = tmp_path / "ro"
    store.mkdir()
    store.chmod(0o555)
    try:
        result = unprivileged("models", "push", str(tiny_model), "-m", "a/b", "-s", str(store), "-t", "v1", "--skip-validation")
    finally:
        store.chmod(0o755)
    one_line_error(result, 1, "permission")
    assert list(store.iterdir()) == []


def test_a_destination_that_is_a_file(store: str, tiny_model: Path, tmp_path: Path, unique_model: str) -> None:
    assert pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v1").exit_code == 0
    (tmp_path / "dest").write_text("a file")
    one_line_error(pais("models", "pull", "-m", unique_model, "-s", store, "-t", "v1", "--dest", str(tmp_path / "dest")), 1,
                   "not a directory")
    assert (tmp_path / "dest").read_text() == "a file"


def test_a_destination_name_too_long(store: str, tiny_model: Path, tmp_path: Path, unique_model: str) -> None:
    assert pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v1").exit_code == 0
    one_line_error(pais("models", "pull", "-m", unique_model, "-s", store, "-t", "v1", "--dest", str(tmp_path / ("x" * 300))),
                   1, "too long")


def test_list_of_a_path_that_is_no_gallery_and_of_a_model_that_does_not_exist(store: str, tiny_model: Path,
                                                                             tmp_path: Path, unique_model: str) -> None:
    one_line_error(pais("models", "list", "-s", str(tmp_path / "nonexistent")), 1, "not a pais gallery")
    assert pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v1").exit_code == 0
    one_line_error(pais("models", "list", "-s", store, "-m", unique_model + "x"), 1, "no model", "did you mean", unique_model)


# ---------------------------------------------------------------------------------------------
# Model files


def test_an_unreadable_file_fails_validation_and_push_naming_it(tiny_model: Path, tmp_path: Path) -> None:
    (tiny_model / "secret.bin").write_bytes(b"x" * 100)
    (tiny_model / "secret.bin").chmod(0)
    (tiny_model / "sub").mkdir()
    (tiny_model / "sub" / "hidden.txt").write_text("x")
    (tiny_model / "sub").chmod(0)
    try:
        validated = unprivileged("models", "validate", str(tiny_model), "-o", "json", "--skip", "malware")
        pushed = unprivileged("models", "push", str(tiny_model), "-m", "a/b", "-s", str(tmp_path / "g"), "-t", "v1",
                              "--skip-validation")
    finally:
        (tiny_model / "sub").chmod(0o755)
    assert validated.exit_code == 1
    findings = [f for c in json.loads(validated.stdout)["checks"] for f in c["findings"] if f["rule"] == "format.unreadable"]
    assert {f["file"] for f in findings} == {"secret.bin", "sub"}
    one_line_error(pushed, 1, "cannot be read")
    assert not (tmp_path / "g" / "a").exists()


def test_a_file_name_with_invisible_direction_changes_is_refused_on_push(tiny_model: Path, tmp_path: Path) -> None:
    (tiny_model / "model\u202egnp.exe").write_bytes(b"x")  # reads as "modelexe.png"
    one_line_error(pais("models", "push", str(tiny_model), "-m", "a/b", "-s", str(tmp_path / "g"), "-t", "v1",
                        "--skip-validation"), 1, "invisible or direction-changing")


def test_a_ca_file_that_is_not_pem(tls_registry: RegistryServer, tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    one_line_error(pais("models", "list", "-s", f"{tls_registry.host}/models", "--ca-file", str(bad)), 2, "PEM")


def test_an_unwritable_report_path(tiny_model: Path, tmp_path: Path) -> None:
    one_line_error(pais("models", "validate", str(tiny_model), "--report", "/proc/pais/report.json"), 1, "/proc/pais/report.json")
    (tmp_path / "dir").mkdir()
    one_line_error(pais("models", "validate", str(tiny_model), "--report", str(tmp_path / "dir")), 1, str(tmp_path / "dir"))


# ---------------------------------------------------------------------------------------------
# Registry addresses


def test_credentials_typed_into_the_store_are_a_usage_error_and_never_echoed() -> None:
    result = pais("models", "list", "-s", "admin:Sup3r-Secret@harbor.example.com/models")
    one_line_error(result, 2, "credentials", "docker login")
    assert "Sup3r-Secret" not in result.stderr + result.stdout and "admin" not in result.stderr


@pytest.mark.parametrize("store, needle", [
    ("127.0.0.1:99999/models", "not a TCP port"),
    ("127.0.0.1:0/models", "not a TCP port"),
    ("https://harbor.example.com/models", "without a scheme"),
    ("http://127.0.0.1:5000/models", "--plain-http"),
])
def test_registry_addresses_that_cannot_work(store: str, needle: str) -> None:
    one_line_error(pais("models", "list", "-s", store), 2, needle)


def test_a_registry_that_is_not_there_is_a_connection_error(tmp_path: Path) -> None:
    port = _closed_port()
    one_line_error(pais("models", "pull", "-m", "a/b", "-t", "v1", "-s", f"127.0.0.1:{port}/models", "--retries", "0",
                        "--dest", str(tmp_path / "d")), 1, "cannot reach")
    assert not (tmp_path / "d").exists()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# Hostile artifacts


def _artifact(store: str, model: str, layers: list[tuple[dict[str, str], bytes]], *, config: bytes = b"{}",
              digest_of: str | None = None) -> None:
    """Put a hand-made artifact into the store, bypassing pais' packing. `digest_of` replaces the
    digest of the first layer in the manifest's bytes (a sha512 one, say)."""
    repo = open_gallery(context(), store).store.repository(model)
    config_desc = Descriptor(CNCF_CONFIG, sha256_digest(config), len(config))
    repo.push_blob(config_desc, iter([config]))
    descs = []
    for layer_annotations, data in layers:
        desc = Descriptor(CNCF_LAYER, sha256_digest(data), len(data), layer_annotations)
        repo.push_blob(desc, iter([data]))
        descs.append(desc)
    raw = build_manifest(config_desc, descs, CNCF_ARTIFACT)
    if digest_of is not None:
        raw = raw.replace(descs[0].digest.encode(), digest_of.encode())
    repo.push_raw_manifest(raw, "application/vnd.oci.image.manifest.v1+json", "evil")


def _path(p: str, title: str | None = None) -> dict[str, str]:
    return {"org.cncf.model.filepath": p, "org.opencontainers.image.title": title if title is not None else p}


@pytest.mark.parametrize("case, needle", [
    ("reserved staging", "reserved"),
    ("reserved marker", "reserved"),
    ("title disagrees", "titled"),
    ("bidi override", "invisible or direction-changing"),
    ("no layers", "no layers"),
    ("config not json", "config is not JSON"),
])
def test_hostile_artifacts_are_refused_before_anything_is_written(store: str, tmp_path: Path, unique_model: str,
                                                                  case: str, needle: str) -> None:
    data = b"fine\n"
    layers = {
        "reserved staging": [(_path(".pais-staging/keep.txt"), data)],
        "reserved marker": [(_path(".pais-incomplete"), data)],
        "title disagrees": [(_path("weights.bin", "config.json"), data)],
        "bidi override": [(_path("model\u202egnp.exe"), data)],
        "no layers": [],
        "config not json": [(_path("a.txt"), data)],
    }[case]
    _artifact(store, unique_model, layers, config=b"not json" if case == "config not json" else b"{}")
    dest = tmp_path / "dest"
    one_line_error(pais("models", "pull", "-m", unique_model, "-s", store, "-t", "evil", "--dest", str(dest)), 1, needle)
    assert not dest.exists()


def test_a_digest_of_another_algorithm_is_a_malformed_artifact(tmp_path: Path) -> None:
    """On disk only: a registry refuses to store a manifest naming a blob it does not hold."""
    store = str(tmp_path / "gallery")
    _artifact(store, "acme/evil", [(_path("a.txt"), b"fine\n")], digest_of="sha512:" + "ab" * 64)
    dest = tmp_path / "dest"
    one_line_error(pais("models", "pull", "-m", "acme/evil", "-s", store, "-t", "evil", "--dest", str(dest)), 1, "not sha256")
    assert not dest.exists()
