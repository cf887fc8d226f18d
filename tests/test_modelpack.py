"""ModelPack packing: deterministic, schema-valid, and strict about what it unpacks."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import jsonschema
import pytest

from pais_cli.errors import ModelDirectoryError, NotAModel, UnsafeArtifact
from pais_cli.gallery.modelpack import classify, model_files, pack_directory
from pais_cli.gallery.oci import Descriptor, Manifest, build_manifest, sha256_digest

SPECS = Path(__file__).resolve().parent / "specs"


def config_schema() -> dict:
    """The released ModelPack config schema (v0.0.7, draft-04), the one Harbor and modctl use."""
    return json.loads((SPECS / "modelpack-config-schema-v0.0.7.json").read_text())


def test_config_also_valid_against_the_main_branch_schema(tiny_model: Path) -> None:
    schema = json.loads((SPECS / "modelpack-config-schema.json").read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(json.loads(pack_directory(tiny_model).config_bytes))


def test_same_directory_same_digest_anywhere(tiny_model: Path, tmp_path: Path) -> None:
    first = pack_directory(tiny_model)
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(tiny_model, moved)
    for f in moved.iterdir():
        os.utime(f, (1_000_000, 1_000_000))  # another day
        os.chmod(f, 0o600)  # another umask
    assert pack_directory(moved).manifest.digest == first.manifest.digest


def test_changed_byte_or_exec_bit_changes_digest(tiny_model: Path) -> None:
    base = pack_directory(tiny_model).manifest.digest
    os.chmod(tiny_model / "README.md", 0o755)
    executable = pack_directory(tiny_model).manifest.digest
    assert executable != base
    os.chmod(tiny_model / "README.md", 0o644)
    (tiny_model / "README.md").write_text("changed\n")
    assert pack_directory(tiny_model).manifest.digest not in (base, executable)


def test_manifest_and_config_follow_modelpack(tiny_model: Path) -> None:
    packed = pack_directory(tiny_model)
    manifest = json.loads(packed.manifest.raw)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.model.config.v1+json"
    config = json.loads(packed.config_bytes)
    jsonschema.Draft4Validator(config_schema()).validate(config)
    assert config["modelfs"]["diffIds"] == [layer["digest"] for layer in manifest["layers"]]
    assert config["config"]["architecture"] == "LlamaForCausalLM"
    assert config["config"]["format"] == "safetensors"
    # embeddings and head 2*64*32, final norm 32, per layer 4*32*32 + 3*64*32 + 2*32, two layers
    assert config["config"]["paramSize"] == "24.7k"
    kinds = {layer["annotations"]["org.cncf.model.filepath"]: layer["mediaType"] for layer in manifest["layers"]}
    assert kinds == {
        "README.md": "application/vnd.cncf.model.doc.v1.raw",
        "config.json": "application/vnd.cncf.model.weight.config.v1.raw",
        "model.safetensors": "application/vnd.cncf.model.weight.v1.raw",
        "tokenizer.json": "application/vnd.cncf.model.weight.config.v1.raw",
    }
    for layer in manifest["layers"]:
        assert layer["annotations"]["org.opencontainers.image.title"] == layer["annotations"]["org.cncf.model.filepath"]
        meta = json.loads(layer["annotations"]["org.cncf.model.file.metadata+json"])
        assert meta["mode"] == 0o644 and meta["mtime"] == "1970-01-01T00:00:00Z"
    assert b"createdAt" not in packed.config_bytes


def test_cnai_flavour_writes_legacy_names(tiny_model: Path) -> None:
    packed = pack_directory(tiny_model, flavor="cnai")
    manifest = json.loads(packed.manifest.raw)
    assert manifest["artifactType"] == "application/vnd.cnai.model.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.cnai.model.config.v1+json"
    assert all(layer["mediaType"].startswith("application/vnd.cnai.model.") for layer in manifest["layers"])
    assert all("org.cnai.model.filepath" in layer["annotations"] for layer in manifest["layers"])
    assert [f.path for f in model_files(packed.manifest)] == sorted(f.path for f in packed.files)


def test_hidden_entries_are_left_out_and_reported(tiny_model: Path) -> None:
    (tiny_model / ".git").mkdir()
    (tiny_model / ".git" / "HEAD").write_text("ref: x\n")
    (tiny_model / ".env").write_text("SECRET=1\n")
    packed = pack_directory(tiny_model)
    assert packed.skipped == [".env", ".git/"]
    assert all(not f.path.startswith(".") for f in packed.files)
    assert {f.path for f in pack_directory(tiny_model, include_hidden=True).files} >= {".env", ".git/HEAD"}


@pytest.mark.parametrize(
    "path,kind",
    [("model-00001-of-00002.safetensors", "weight"), ("pytorch_model.bin", "weight"), ("model.gguf", "weight"),
     ("config.json", "weight.config"), ("tokenizer.model", "weight.config"), ("merges.txt", "weight.config"),
     ("README.md", "doc"), ("LICENSE", "doc"), ("modeling_x.py", "code"), ("1_Pooling/config.json", "weight.config")],
)
def test_layer_kind_by_role(path: str, kind: str) -> None:
    assert classify(path)[0] == kind


def test_links_out_of_the_model_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    (tiny_model / "leak.txt").symlink_to(secret)
    with pytest.raises(ModelDirectoryError, match="symbolic link"):
        pack_directory(tiny_model)


def test_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelDirectoryError, match="no files in"):
        pack_directory(tmp_path)


def _artifact(paths: list[str]) -> Manifest:
    config = Descriptor("application/vnd.cncf.model.config.v1+json", sha256_digest(b"{}"), 2)
    layers = [
        Descriptor("application/vnd.cncf.model.weight.v1.raw", sha256_digest(p.encode()), len(p),
                   {"org.cncf.model.filepath": p})
        for p in paths
    ]
    return Manifest.parse(build_manifest(config, layers, "application/vnd.cncf.model.manifest.v1+json"))


@pytest.mark.parametrize(
    "paths",
    [["../x"], ["/x"], ["a/../../x"], ["a/./b"], ["a\\..\\x"], ["a\nb"], ["a", "a"], ["A", "a"], ["a", "a/b"], [""]],
)
def test_unsafe_layer_paths_are_refused(paths: list[str]) -> None:
    with pytest.raises(UnsafeArtifact):
        model_files(_artifact(paths))


def test_a_container_image_is_not_a_model() -> None:
    config = Descriptor("application/vnd.oci.image.config.v1+json", sha256_digest(b"{}"), 2)
    with pytest.raises(NotAModel):
        model_files(Manifest.parse(build_manifest(config, [])))
