"""Push, pull and list against a real CNCF distribution registry and the on-disk gallery."""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pais_cli.errors import UnsafeArtifact
from pais_cli.app.pull import pull_model
from pais_cli.app.push import push_model
from pais_cli.gallery.progress import TransferProgress
from pais_cli.app.galleries import open_gallery
from pais_cli.cli.settings import context
from pais_cli.gallery.oci import Descriptor, Manifest, build_manifest, sha256_digest
from pais_cli.gallery.reference import RevisionRef
from tests.conftest import pais
from tests.support.faultproxy import FaultProxy
from tests.support.models import write_random_file, write_tiny_model
from tests.support.registry import RegistryServer


def same_tree(a: Path, b: Path) -> bool:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files_a)


def test_same_data_twice_is_one_revision_and_uploads_nothing(store: str, tiny_model: Path, unique_model: str) -> None:
    first = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v1", "-o", "json")
    assert first.exit_code == 0, first.stderr
    assert first.json()["bytes_uploaded"] > first.json()["bytes_total"]  # files plus the config
    second = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v1", "-o", "json")
    assert second.exit_code == 0, second.stderr
    assert second.json()["digest"] == first.json()["digest"]
    assert second.json()["bytes_uploaded"] == 0
    assert second.json()["validated"] is True and second.json()["verdict"] == "pass"


def test_changing_one_file_uploads_only_that_file(store: str, tiny_model: Path, unique_model: str) -> None:
    first = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v1", "-o", "json").json()
    readme = tiny_model / "README.md"
    readme.write_text("a different README\n")
    second = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v2", "-o", "json").json()
    assert second["digest"] != first["digest"]
    # The changed file travels, and the config, whose diffIds changed with it; nothing else.
    assert second["blobs_uploaded"] == 2
    assert readme.stat().st_size < second["bytes_uploaded"] < readme.stat().st_size + 2048
    listed = pais("models", "list", "-s", store, "-m", unique_model, "-o", "json").json()
    assert {(r["digest"], tuple(r["tags"])) for r in listed} == {(first["digest"], ("v1",)), (second["digest"], ("v2",))}
    assert all(set(r) >= {"model", "digest", "tags", "size"} for r in listed)


def test_pull_by_tag_and_by_digest_gives_identical_files(store: str, tiny_model: Path, unique_model: str, tmp_path: Path) -> None:
    pushed = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v1", "-o", "json").json()
    by_tag = pais("models", "pull", "-m", unique_model, "-s", store, "-t", "v1", "--dest", str(tmp_path / "a"), "-o", "json")
    assert by_tag.exit_code == 0, by_tag.stderr
    by_digest = pais("models", "pull", "-m", unique_model, "-s", store, "-d", pushed["digest"], "--dest", str(tmp_path / "b"), "-o", "json")
    assert by_digest.exit_code == 0, by_digest.stderr
    assert by_tag.json()["digest"] == by_digest.json()["digest"] == pushed["digest"]
    assert set(by_tag.json()) >= {"digest", "path", "bytes_downloaded"}
    assert same_tree(tiny_model, tmp_path / "a") and same_tree(tiny_model, tmp_path / "b")
    assert not (tmp_path / "a" / ".pais-staging").exists()
    again = pais("models", "pull", "-m", unique_model, "-s", store, "-t", "v1", "--dest", str(tmp_path / "a"), "-o", "json")
    assert again.json()["bytes_downloaded"] == 0  # every file already there with the right digest


def test_pull_without_tag_or_digest_says_there_is_no_latest(store: str) -> None:
    result = pais("models", "pull", "-m", "acme/anything", "-s", store)
    assert result.exit_code == 2
    assert "no implicit 'latest'" in result.stderr and "--tag" in result.stderr


def test_pull_of_a_missing_tag_fails_cleanly(store: str, tiny_model: Path, unique_model: str, tmp_path: Path) -> None:
    pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v1")
    result = pais("models", "pull", "-m", unique_model, "-s", store, "-t", "nope", "--dest", str(tmp_path / "out"))
    assert result.exit_code == 1 and "nope" in result.stderr and "models list" in result.stderr
    assert not (tmp_path / "out").exists()


def test_moving_a_tag_needs_force_and_names_both_digests(store: str, tiny_model: Path, unique_model: str) -> None:
    first = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "prod", "-o", "json").json()
    (tiny_model / "README.md").write_text("v2\n")
    refused = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "prod")
    assert refused.exit_code == 1
    assert first["digest"] in refused.stderr and "--force" in refused.stderr
    moved = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "prod", "--force", "-o", "json")
    assert moved.exit_code == 0
    resolved = open_gallery(context(), store).store.repository(unique_model).resolve("prod")
    assert resolved == moved.json()["digest"] != first["digest"]


class Interrupt(TransferProgress):
    """Stops a transfer, like Ctrl-C or a dropped connection, after `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit, self.seen = limit, 0

    def advance(self, n: int) -> None:
        self.seen += n
        if self.seen > self.limit:
            raise KeyboardInterrupt


def test_interrupted_pull_leaves_no_partial_file_and_resumes(store: str, tmp_path: Path, unique_model: str) -> None:
    model = tmp_path / "big"
    for i, size in enumerate((9 << 20, 12 << 20)):
        write_random_file(model / f"shard-{i}.safetensors", size, seed=i)
    (model / "config.json").write_text("{}\n")
    gallery = open_gallery(context(), store)
    pushed = push_model(context(), gallery, model, unique_model, ["v1"], skip_validation=True)  # random bytes: not real weights
    dest = tmp_path / "dest"
    with pytest.raises(KeyboardInterrupt):
        pull_model(context(), gallery, unique_model, RevisionRef(tag="v1"), dest, jobs=1, progress=Interrupt(16 << 20))
    # Largest file first: shard-1 (12 MiB) is complete, shard-0 was cut off part way.
    assert filecmp.cmp(dest / "shard-1.safetensors", model / "shard-1.safetensors", shallow=False)
    assert not (dest / "shard-0.safetensors").exists()
    assert not (dest / "config.json").exists()
    partial = list((dest / ".pais-staging").iterdir())
    assert len(partial) == 1 and 0 < partial[0].stat().st_size < 9 << 20
    staged = partial[0].stat().st_size
    resumed = pull_model(context(), gallery, unique_model, RevisionRef(tag="v1"), dest, jobs=1)
    assert resumed.digest == pushed.digest
    assert same_tree(model, dest)
    # Neither the complete shard nor the bytes already staged travelled again.
    assert resumed.bytes_downloaded == (9 << 20) - staged + len("{}\n")
    assert not (dest / ".pais-staging").exists()


def _push_raw_artifact(store: str, model: str, layers: list[tuple[str, bytes]], tag: str, config_type: str | None = None) -> None:
    """Put an artifact into the store byte by byte, bypassing pais' own packing."""
    repo = open_gallery(context(), store).store.repository(model)
    config_bytes = b"{}"
    config = Descriptor(config_type or "application/vnd.cncf.model.config.v1+json", sha256_digest(config_bytes), 2)
    repo.push_blob(config, iter([config_bytes]))
    descs = []
    for path, data in layers:
        desc = Descriptor("application/vnd.cncf.model.weight.v1.raw", sha256_digest(data), len(data),
                          {"org.cncf.model.filepath": path, "org.opencontainers.image.title": path})
        repo.push_blob(desc, iter([data]))
        descs.append(desc)
    artifact_type = None if config_type else "application/vnd.cncf.model.manifest.v1+json"
    repo.push_manifest(Manifest.parse(build_manifest(config, descs, artifact_type)), [tag])


@pytest.mark.parametrize("evil", ["../x", "/x", "sub/../../x"])
def test_artifact_escaping_its_destination_is_refused_before_writing(store: str, tmp_path: Path, unique_model: str, evil: str) -> None:
    _push_raw_artifact(store, unique_model, [("a-benign-file.txt", b"fine\n"), (evil, b"owned\n")], "evil")
    dest = tmp_path / "work" / "dest"
    result = pais("models", "pull", "-m", unique_model, "-s", store, "-t", "evil", "--dest", str(dest))
    assert result.exit_code == 1
    assert evil in result.stderr and "refused before anything was written" in result.stderr
    assert not dest.exists()
    assert not (tmp_path / "work" / "x").exists() and not Path("/x").exists()
    with pytest.raises(UnsafeArtifact):
        pull_model(context(), open_gallery(context(), store), unique_model, RevisionRef(tag="evil"), dest)


def test_pull_through_a_planted_link_is_refused(store: str, tiny_model: Path, tmp_path: Path, unique_model: str) -> None:
    pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v1")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "config.json").symlink_to(outside / "config.json")
    result = pais("models", "pull", "-m", unique_model, "-s", store, "-t", "v1", "--dest", str(dest))
    assert result.exit_code == 1 and "symbolic link" in result.stderr
    assert list(outside.iterdir()) == [] and sorted(p.name for p in dest.iterdir()) == ["config.json"]


def test_something_that_is_not_a_model_is_refused(store: str, tmp_path: Path, unique_model: str) -> None:
    _push_raw_artifact(store, unique_model, [("layer", b"bytes")], "image", config_type="application/vnd.oci.image.config.v1+json")
    result = pais("models", "pull", "-m", unique_model, "-s", store, "-t", "image", "--dest", str(tmp_path / "d"))
    assert result.exit_code == 1 and "not a model artifact" in result.stderr
    assert not (tmp_path / "d").exists()


def test_push_needs_a_deliberate_tag(store: str, tiny_model: Path) -> None:
    result = pais("models", "push", str(tiny_model), "-m", "acme/x", "-s", store)
    assert result.exit_code == 2 and "--tag" in result.stderr


def test_push_defaults_to_the_current_directory(store: str, tiny_model: Path, unique_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tiny_model)
    result = pais("models", "push", "-m", unique_model, "-s", store, "-t", "v1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["files"] == 4


def test_list_shows_every_model_of_the_gallery(store: str, tiny_model: Path, tmp_path: Path, unique_model: str) -> None:
    pais("models", "push", str(tiny_model), "-m", f"{unique_model}/one", "-s", store, "-t", "v1")
    pais("models", "push", str(tiny_model), "-m", f"{unique_model}/two", "-s", store, "-t", "v1", "-t", "prod")
    listed = pais("models", "list", "-s", store, "-o", "json").json()
    mine = {r["model"]: r for r in listed if r["model"].startswith(unique_model)}
    assert set(mine) == {f"{unique_model}/one", f"{unique_model}/two"}
    assert mine[f"{unique_model}/two"]["tags"] == ["prod", "v1"]
    assert mine[f"{unique_model}/one"]["size"] == sum(p.stat().st_size for p in tiny_model.iterdir())
    table = pais("models", "list", "-s", store)
    assert table.exit_code == 0 and f"{unique_model}/two" in table.stdout


def test_cnai_flavoured_gallery_round_trips(store: str, tiny_model: Path, tmp_path: Path, unique_model: str) -> None:
    pushed = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v1", "--flavor", "cnai", "-o", "json")
    assert pushed.json()["flavor"] == "cnai"
    listed = pais("models", "list", "-s", store, "-m", unique_model, "-o", "json").json()
    assert listed[0]["flavor"] == "cnai"
    pulled = pais("models", "pull", "-m", unique_model, "-s", store, "-t", "v1", "--dest", str(tmp_path / "out"))
    assert pulled.exit_code == 0 and same_tree(tiny_model, tmp_path / "out")
    raw = open_gallery(context(), store).store.repository(unique_model).fetch_manifest("v1").raw
    assert json.loads(raw)["artifactType"] == "application/vnd.cnai.model.manifest.v1+json"


def test_push_again_with_a_blob_over_the_answer_cap(registry: RegistryServer, tmp_path: Path, unique_model: str) -> None:
    """HEAD on a present blob declares the blob's size (here over the 4 MiB cap on answers) and
    sends no body: it is an answer, not an oversized one."""
    model = write_tiny_model(tmp_path / "m")
    write_random_file(model / "extra.bin", 5 * 1024 * 1024, seed=3)
    store = f"{registry.host}/models"
    for tag in ("v1", "v2"):
        result = pais("models", "push", str(model), "-s", store, "--modelName", unique_model, "-t", tag,
                      "--skip-validation", "-o", "json")
        assert result.exit_code == 0, result.stderr
    assert result.json()["bytes_uploaded"] == 0  # type: ignore[index]


def test_a_pull_asks_for_small_answers_over_one_kept_alive_connection(registry: RegistryServer, tiny_model: Path,
                                                                      unique_model: str, tmp_path: Path) -> None:
    """Counted at a proxy in front of the registry: the loopback scheme probe is one connection
    (a TLS handshake, which the proxy answers in plain HTTP as Go's servers do), the manifest and
    the config share one that is kept alive, and each file has its own. Before, the pull also
    opened a connection for httpx beside the one that read the config: one more per pull, a
    TLS handshake each on a remote registry."""
    pushed = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", f"{registry.host}/models", "-t", "v1",
                  "--skip-validation", "-o", "json")
    assert pushed.exit_code == 0, pushed.stderr
    dest = tmp_path / "pulled"
    with FaultProxy(registry.host) as proxy:
        pulled = pais("models", "pull", "-m", unique_model, "-s", f"{proxy.host}/models", "-t", "v1", "--dest", str(dest), "-o", "json")
        assert pulled.exit_code == 0, pulled.stderr
        blobs = len({sha256_digest(p.read_bytes()) for p in dest.rglob("*") if p.is_file()})
        assert proxy.count("GET") == 2 + blobs  # the manifest, the config, the files
        assert proxy.connections == 2 + blobs, proxy.log
    assert same_tree(tiny_model, dest)


def test_a_pull_does_not_start_httpx(registry: RegistryServer, tiny_model: Path, unique_model: str, tmp_path: Path) -> None:
    """A pull reads everything over http.client: httpx's transport (httpcore) and the CA bundle
    are never loaded for a registry that needs neither, which was a third of a pull's start-up
    (measured: 0.206 -> 0.147 s for a 1 KB model, with the start-up changes beside it)."""
    pushed = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", f"{registry.host}/models", "-t", "v1",
                  "--skip-validation", "-o", "json")
    assert pushed.exit_code == 0, pushed.stderr
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "pais_cli", "models", "pull", "-m", unique_model,
                           "-s", f"{registry.host}/models", "-t", "v1", "--dest", str(tmp_path / "o"), "-q"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "pais_cli.app.pull" in imported and "httpcore" not in imported
    assert same_tree(tiny_model, tmp_path / "o")


def test_a_proxy_named_by_the_environment_carries_every_byte(registry: RegistryServer, tiny_model: Path, unique_model: str,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY names a proxy (the fault proxy, which forwards absolute-form requests as a
    forward proxy does). httpx honours it, as the README says, so the plain http.client path
    gives way and no byte goes around it; before, blob reads went straight to the registry.
    NO_PROXY exempts the registry again."""
    store = f"{registry.host}/models"
    pushed = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v1", "--skip-validation", "-o", "json")
    assert pushed.exit_code == 0, pushed.stderr
    files = [p for p in tiny_model.rglob("*") if p.is_file()]
    for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with FaultProxy(registry.host) as proxy:
        for var in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(var, proxy.url)
        pulled = pais("models", "pull", "-m", unique_model, "-s", store, "-t", "v1", "--dest", str(tmp_path / "a"), "-o", "json")
        assert pulled.exit_code == 0, pulled.stderr
        assert proxy.count("GET", "manifest") == 1
        assert proxy.bytes_sent("blob") > sum(p.stat().st_size for p in files)  # every file, and the config
        proxy.reset_counters()
        for var in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(var, "localhost,127.0.0.1")
        pulled = pais("models", "pull", "-m", unique_model, "-s", store, "-t", "v1", "--dest", str(tmp_path / "b"), "-o", "json")
        assert pulled.exit_code == 0, pulled.stderr
        assert proxy.count() == 0
    assert same_tree(tiny_model, tmp_path / "a") and same_tree(tiny_model, tmp_path / "b")
