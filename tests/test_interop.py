"""What pais writes, a tool that is not pais reads back: skopeo (containers/image), from the
registry and from the on-disk OCI layout, byte for byte, and the result is valid ModelPack."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import jsonschema

from tests.conftest import need, pais
from tests.support.registry import RegistryServer
from tests.test_modelpack import config_schema


def skopeo(*args: str) -> bytes:
    return subprocess.run([need("skopeo"), *args], check=True, capture_output=True, timeout=120).stdout


def check_copy(copied: Path, model: Path, digest: str) -> None:
    manifest_bytes = (copied / "manifest.json").read_bytes()
    assert "sha256:" + hashlib.sha256(manifest_bytes).hexdigest() == digest
    manifest = json.loads(manifest_bytes)
    assert manifest["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
    config = json.loads((copied / manifest["config"]["digest"].split(":")[1]).read_bytes())
    jsonschema.Draft4Validator(config_schema()).validate(config)
    for layer in manifest["layers"]:
        path = layer["annotations"]["org.cncf.model.filepath"]
        assert (copied / layer["digest"].split(":")[1]).read_bytes() == (model / path).read_bytes()
    assert {layer["annotations"]["org.cncf.model.filepath"] for layer in manifest["layers"]} == {p.name for p in model.iterdir()}


def test_skopeo_reads_a_registry_revision(registry: RegistryServer, tiny_model: Path, tmp_path: Path) -> None:
    store = f"{registry.host}/interop"
    pushed = pais("models", "push", str(tiny_model), "-m", "acme/tiny", "-s", store, "-t", "v1", "-o", "json").json()
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{store}/acme/tiny:v1")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == pushed["digest"]
    skopeo("copy", "--src-tls-verify=false", f"docker://{store}/acme/tiny@{pushed['digest']}", f"dir:{tmp_path / 'copy'}")
    check_copy(tmp_path / "copy", tiny_model, pushed["digest"])


def test_skopeo_reads_the_on_disk_gallery(tiny_model: Path, tmp_path: Path) -> None:
    gallery = tmp_path / "gallery"
    pushed = pais("models", "push", str(tiny_model), "-m", "acme/tiny", "-s", str(gallery), "-t", "v1", "-o", "json").json()
    layout = gallery / "acme" / "tiny"
    raw = skopeo("inspect", "--raw", f"oci:{layout}:v1")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == pushed["digest"]
    skopeo("copy", f"oci:{layout}:v1", f"dir:{tmp_path / 'copy'}")
    check_copy(tmp_path / "copy", tiny_model, pushed["digest"])


def test_skopeo_layout_copy_is_pulled_by_pais(tiny_model: Path, tmp_path: Path) -> None:
    """The other direction: an OCI layout skopeo wrote is a gallery pais can pull from."""
    source = tmp_path / "source"
    pushed = pais("models", "push", str(tiny_model), "-m", "acme/tiny", "-s", str(source), "-t", "v1", "-o", "json").json()
    other = tmp_path / "other"
    (other / "acme").mkdir(parents=True)
    skopeo("copy", f"oci:{source / 'acme' / 'tiny'}:v1", f"oci:{other / 'acme' / 'tiny'}:approved")
    pulled = pais("models", "pull", "-m", "acme/tiny", "-s", str(other), "-t", "approved", "--dest", str(tmp_path / "out"), "-o", "json")
    assert pulled.exit_code == 0, pulled.stderr
    assert pulled.json()["digest"] == pushed["digest"]
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (tiny_model / "model.safetensors").read_bytes()
