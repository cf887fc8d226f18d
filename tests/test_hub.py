"""`download_model`, `hub_expected_digests` and `verify_against_hub` against a fake Hub.

The Hugging Face Hub cannot be reached from the test machines, so these tests run
huggingface_hub 2.4.0 against tests/support/hub.py: a server on 127.0.0.1 that follows the Hub's
documented responses (model info, tree, resolve, and a CDN origin for LFS files, with the headers
and error codes) as huggingface_hub 2.4.0 consumes them. Nothing here talks to anything but
127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_url

from pais_cli.cli import settings
from pais_cli.errors import NotFound, UnsafeArtifact, UsageError
from pais_cli.modeldir.digests import hash_file
from pais_cli.modeldir.snapshot import DirectorySnapshot, SnapshotFile, scan_directory
from pais_cli.hub import (
    HubAccessDenied,
    HubDownloadFailed,
    HubRepoNotFound,
    HubRevisionNotFound,
    HubUnreachable,
    download_model,
)
from pais_cli.modeldir.provenance import GIT_BLOB_SHA1, SHA256, git_blob_sha1, hub_expected_digests
from pais_cli.validation.hubcheck import verify_against_hub
from pais_cli.validation.report import Finding, Severity
from tests.support.hub import FakeHub
from tests.support.models import write_tiny_model

REPO = "tiny-org/tiny-llama"
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"


def repo_files(tmp: Path, seed: int = 0) -> dict[str, bytes]:
    """A small public model repo as the Hub holds it: tiny safetensors, config, tokenizer, README."""
    src = write_tiny_model(tmp / f"src-{seed}", seed=seed)
    files = {p.relative_to(src).as_posix(): p.read_bytes() for p in sorted(src.rglob("*")) if p.is_file()}
    files[".gitattributes"] = GITATTRIBUTES
    return files


def under_test(root: Path) -> DirectorySnapshot:
    """What the validation checks see: the non-hidden files, hashed."""
    found, skipped, _ = scan_directory(root)
    return DirectorySnapshot(root, [SnapshotFile(rel, full, st.st_size, hash_file(full)) for rel, full, st in found], skipped)


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == Severity.error]


def summary(findings: list[Finding]) -> str:
    return next(f.message for f in findings if f.rule == "integrity.hub-proven")


@pytest.fixture(autouse=True)
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No token from the environment or a `hf auth login` file; no offline mode."""
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf-home" / "stored_tokens"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("PAIS_CACHE_DIR", str(tmp_path / "pais-cache"))  # the digest cache


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    with FakeHub(tree_page_size=2) as server:  # small pages: the tree listing is paginated
        server.commit(REPO, repo_files(tmp_path))
        yield server


def download(hub: FakeHub, dest: Path, **kwargs: object) -> object:
    return download_model(REPO, dest, endpoint=hub.url, progress=False, **kwargs)  # type: ignore[arg-type]


# ---- the fake Hub answers as huggingface_hub expects


def test_fake_hub_resolve_headers_are_what_huggingface_hub_reads(hub: FakeHub) -> None:
    files = hub.repos[REPO].commits[hub.repos[REPO].refs["main"]]
    lfs = get_hf_file_metadata(hf_hub_url(REPO, "model.safetensors", endpoint=hub.url), endpoint=hub.url)
    assert lfs.etag == files["model.safetensors"].sha256  # from X-Linked-Etag, not the redirect's own ETag
    assert lfs.size == files["model.safetensors"].size
    assert lfs.location.startswith(hub.cdn_url)  # another origin: not followed by the HEAD
    plain = get_hf_file_metadata(hf_hub_url(REPO, "config.json", endpoint=hub.url), endpoint=hub.url)
    assert plain.etag == files["config.json"].blob_id
    assert plain.commit_hash == hub.repos[REPO].refs["main"]
    info = HfApi(endpoint=hub.url).model_info(REPO, files_metadata=True)
    lfs_sibling = next(s for s in info.siblings or [] if s.rfilename == "model.safetensors")
    assert lfs_sibling.lfs is not None and lfs_sibling.lfs.sha256 == files["model.safetensors"].sha256


# ---- download


def test_download_writes_real_files_and_records_the_commit(
        hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.url)  # huggingface_hub itself read HF_ENDPOINT at import
    dest = tmp_path / "model"
    result = download_model(REPO, dest, endpoint=settings.hf_endpoint())  # what `pais models download` passes
    commit = hub.repos[REPO].refs["main"]
    expected = repo_files(tmp_path)

    assert result.commit == commit and result.revision is None and result.endpoint == hub.url
    assert result.files == len(expected) and result.bytes == sum(len(b) for b in expected.values())
    for name, data in expected.items():
        path = dest / name
        assert not path.is_symlink() and path.is_file() and path.read_bytes() == data
        meta = (dest / ".cache/huggingface/download" / f"{name}.metadata").read_text().splitlines()
        assert meta[0] == commit
    assert not list(dest.rglob("*.incomplete"))
    assert not (dest / ".pais" / "hf-cache").exists()  # huggingface_hub's cache_dir, kept inside dest, is gone

    record = json.loads((dest / ".pais/source.json").read_text())
    assert record["repoId"] == REPO and record["commit"] == commit and record["revision"] is None
    assert record["endpoint"] == hub.url and record["schemaVersion"] == 1
    by_path = {f["path"]: f for f in record["files"]}
    assert set(by_path) == set(expected)
    st = by_path["model.safetensors"]
    assert st["lfs"]["sha256"] == hashlib.sha256(expected["model.safetensors"]).hexdigest()
    assert st["size"] == len(expected["model.safetensors"])
    assert by_path["config.json"]["blobId"] == git_blob_sha1(dest / "config.json") and "lfs" not in by_path["config.json"]
    assert result.to_json()["commit"] == commit

    # every request went to the fake Hub or its CDN, the tree listing was paged, LFS bytes came from the CDN
    assert sum(1 for origin, _, path, _ in hub.requests if "/tree/" in path) >= 3
    assert ("cdn", "GET") in {(o, m) for o, m, _, _ in hub.requests}


def test_expected_digests_prove_every_downloaded_file(hub: FakeHub, tmp_path: Path) -> None:
    dest = tmp_path / "model"
    download(hub, dest)
    expected = hub_expected_digests(dest)
    files = repo_files(tmp_path)
    assert set(expected) == set(files)
    assert expected["model.safetensors"].algorithm == SHA256
    assert expected["model.safetensors"].value == hashlib.sha256(files["model.safetensors"]).hexdigest()
    assert expected["config.json"].algorithm == GIT_BLOB_SHA1
    assert expected["config.json"].value == git_blob_sha1(dest / "config.json")
    assert all(e.commit == hub.repos[REPO].refs["main"] and e.size == len(files[p]) for p, e in expected.items())
    # download metadata, the tree listing cache and .pais/source.json all say the same
    assert all(len(e.sources) == 3 and not e.conflicts for e in expected.values())

    (dest / "NOTES.md").write_text("local notes, not from the Hub\n")
    findings = verify_against_hub(under_test(dest))
    assert not errors(findings)
    text = summary(findings)
    assert "4 of 5 files" in text and "1 by sha256, 3 by git blob sha1" in text
    assert "1 hidden, not checked" in text and "1 local files have no Hub metadata" in text


@pytest.mark.parametrize("keep", ["both", "hf-metadata", "pais-record"])
def test_tampered_files_are_named(hub: FakeHub, tmp_path: Path, keep: str) -> None:
    dest = tmp_path / "model"
    download(hub, dest)
    if keep == "hf-metadata":
        (dest / ".pais/source.json").unlink()
    elif keep == "pais-record":
        for sub in ("download", "trees"):
            for p in sorted((dest / ".cache/huggingface" / sub).rglob("*"), reverse=True):
                p.unlink()
    for name in ("model.safetensors", "config.json"):  # one LFS file, one plain git file
        data = bytearray((dest / name).read_bytes())
        data[len(data) // 2] ^= 0x01  # same size, one bit off
        (dest / name).write_bytes(bytes(data))
    (dest / "README.md").unlink()

    findings = verify_against_hub(under_test(dest))
    bad = {f.file: f for f in errors(findings)}
    assert set(bad) == {"model.safetensors", "config.json", "README.md"}
    assert bad["model.safetensors"].rule == "integrity.hub-mismatch"
    assert f"sha256 {hashlib.sha256(repo_files(tmp_path)['model.safetensors']).hexdigest()}" in bad["model.safetensors"].message
    assert bad["config.json"].rule == "integrity.hub-mismatch" and "git blob sha1" in bad["config.json"].message
    assert bad["README.md"].rule == "integrity.missing-file"
    assert "1 of 5 files" in summary(findings) and "2 differ, 1 missing" in summary(findings)


def test_download_again_repairs_a_tampered_directory(hub: FakeHub, tmp_path: Path) -> None:
    dest = tmp_path / "model"
    download(hub, dest)
    (dest / "model.safetensors").write_bytes(b"\0" * (dest / "model.safetensors").stat().st_size)
    (dest / "config.json").write_text("{}")
    assert len(errors(verify_against_hub(under_test(dest)))) == 2
    # within a second of the download: huggingface_hub alone would trust its metadata and keep them
    result = download(hub, dest)
    assert result.repaired == 2  # type: ignore[attr-defined]
    assert not errors(verify_against_hub(under_test(dest)))


def test_conflicting_metadata_is_an_error(hub: FakeHub, tmp_path: Path) -> None:
    dest = tmp_path / "model"
    download(hub, dest)
    record = json.loads((dest / ".pais/source.json").read_text())
    for f in record["files"]:
        if f["path"] == "model.safetensors":
            f["lfs"]["sha256"] = "0" * 64
    (dest / ".pais/source.json").write_text(json.dumps(record))
    bad = errors(verify_against_hub(under_test(dest)))
    assert [(f.rule, f.file) for f in bad] == [("integrity.hub-metadata-conflict", "model.safetensors")]


def test_no_hub_metadata_gives_no_findings(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "local")
    assert hub_expected_digests(model) == {}
    assert verify_against_hub(under_test(model)) == []


def test_allow_patterns_limit_the_download_and_the_proof(hub: FakeHub, tmp_path: Path) -> None:
    dest = tmp_path / "model"
    result = download(hub, dest, allow_patterns=["*.json"])
    assert result.files == 2  # type: ignore[attr-defined]
    assert sorted(p.name for p in dest.iterdir() if not p.name.startswith(".")) == ["config.json", "tokenizer.json"]
    assert set(hub_expected_digests(dest)) == {"config.json", "tokenizer.json"}
    assert not errors(verify_against_hub(under_test(dest)))


def test_nested_files_download_and_prove(tmp_path: Path) -> None:
    files = {"config.json": b"{}\n", "sub/a.json": b'{"a": 1}\n', "sub/deep/weights.bin": os.urandom(4096),
             "sub/deep/notes.txt": b"hello\n"}
    with FakeHub(tree_page_size=3) as hub:
        hub.commit(REPO, files)
        listing = HfApi(endpoint=hub.url).list_repo_tree(REPO, "sub")
        assert sorted(e.path for e in listing) == ["sub/a.json", "sub/deep"]
        download(hub, tmp_path / "model")
    assert all((tmp_path / "model" / p).read_bytes() == b for p, b in files.items())
    expected = hub_expected_digests(tmp_path / "model")
    assert set(expected) == set(files) and expected["sub/deep/weights.bin"].algorithm == SHA256
    assert not errors(verify_against_hub(under_test(tmp_path / "model")))


# ---- revisions


def test_revision_pinning_resolves_a_branch_or_tag_to_its_commit(tmp_path: Path) -> None:
    with FakeHub() as hub:
        old = hub.commit(REPO, repo_files(tmp_path, seed=1), branch="main", tags=("v1.0",))
        hub.commit(REPO, repo_files(tmp_path, seed=1), branch="release")  # a branch with its own commit
        new = hub.commit(REPO, repo_files(tmp_path, seed=2), branch="main")
        assert old != new

        pinned = download_model(REPO, tmp_path / "v1", revision="v1.0", endpoint=hub.url, progress=False)
        assert pinned.commit == old and pinned.revision == "v1.0"
        assert (tmp_path / "v1/model.safetensors").read_bytes() == repo_files(tmp_path, seed=1)["model.safetensors"]
        record = json.loads((tmp_path / "v1/.pais/source.json").read_text())
        assert (record["revision"], record["commit"]) == ("v1.0", old)
        # every file was fetched at the commit, not at the moving name
        assert all("/resolve/v1.0/" not in path for _, _, path, _ in hub.requests)

        latest = download_model(REPO, tmp_path / "main", endpoint=hub.url, progress=False)
        assert latest.commit == new
        by_sha = download_model(REPO, tmp_path / "sha", revision=old, endpoint=hub.url, progress=False)
        assert by_sha.commit == old
        assert not errors(verify_against_hub(under_test(tmp_path / "v1")))


def test_unknown_revision_is_a_typed_error(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(HubRevisionNotFound) as caught:
        download(hub, tmp_path / "model", revision="no-such-branch")
    assert isinstance(caught.value, NotFound)
    assert "no-such-branch" in caught.value.message and "\n" not in caught.value.message
    assert caught.value.hint and "branch, tag or commit" in caught.value.hint
    assert not (tmp_path / "model").exists()


# ---- errors


def test_unknown_repo_is_a_typed_error_with_a_hint(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(HubRepoNotFound) as caught:
        download_model("nobody/nothing", tmp_path / "model", endpoint=hub.url, progress=False)
    assert "nobody/nothing" in caught.value.message and "\n" not in caught.value.message
    assert caught.value.hint and "HF_TOKEN" in caught.value.hint
    assert not (tmp_path / "model").exists()


def test_malformed_repo_id_is_a_usage_error(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        download_model("a/b/c", tmp_path / "model", endpoint=hub.url, progress=False)


def test_gated_repo_needs_hf_token_and_the_token_stays_on_the_hub(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "hf_testtoken_0123456789abcdef"
    with FakeHub() as hub:
        hub.commit(REPO, repo_files(tmp_path), gated=True, tokens=(secret,))
        with pytest.raises(HubAccessDenied) as caught:
            download(hub, tmp_path / "anon")
        assert "gated" in caught.value.message and caught.value.hint and "HF_TOKEN" in caught.value.hint
        assert not (tmp_path / "anon/model.safetensors").exists()

        with pytest.raises(HubAccessDenied):
            download_model(REPO, tmp_path / "wrong", token="hf_not_allowed", endpoint=hub.url, progress=False)

        monkeypatch.setenv("HF_TOKEN", secret)
        hub.requests.clear()
        result = download(hub, tmp_path / "model")
        assert result.files == 5  # type: ignore[attr-defined]
        assert all(auth for origin, _, _, auth in hub.requests if origin == "hub")
        assert not any(auth for origin, _, _, auth in hub.requests if origin == "cdn")  # never sent to the CDN
        assert secret not in (tmp_path / "model/.pais/source.json").read_text()
        assert secret not in json.dumps(result.to_json())  # type: ignore[attr-defined]


def test_private_repo_looks_missing_without_a_token(tmp_path: Path) -> None:
    with FakeHub() as hub:
        hub.commit(REPO, repo_files(tmp_path), private=True, tokens=("hf_owner",))
        with pytest.raises(HubRepoNotFound) as caught:
            download(hub, tmp_path / "model")
        assert caught.value.hint and "HF_TOKEN" in caught.value.hint
        assert download_model(REPO, tmp_path / "model", token="hf_owner", endpoint=hub.url, progress=False).files == 5


def test_unreachable_endpoint_is_a_typed_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HubUnreachable) as caught:
        download_model(REPO, tmp_path / "model", endpoint=f"http://127.0.0.1:{port}", progress=False)
    assert f"127.0.0.1:{port}" in caught.value.message
    assert caught.value.hint and "HF_ENDPOINT" in caught.value.hint and "proxy" in caught.value.hint
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_failed_download_leaves_no_partial_file(hub: FakeHub, tmp_path: Path, name: str) -> None:
    dest = tmp_path / "model"
    hub.faults[hashlib.sha256(repo_files(tmp_path)[name]).hexdigest()] = "truncate"
    with pytest.raises(HubDownloadFailed) as caught:
        download(hub, dest)
    assert "\n" not in caught.value.message
    assert not (dest / name).exists()
    assert not [p for p in dest.rglob("*") if "incomplete" in p.name]
    assert not (dest / ".pais/source.json").exists()  # no record vouches for a failed download
    assert not (dest / ".pais/hf-cache").exists()

    hub.faults.clear()
    result = download(hub, dest)  # the next run completes it
    assert result.files == 5  # type: ignore[attr-defined]
    assert not errors(verify_against_hub(under_test(dest)))


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_bytes_that_do_not_match_the_published_digest_are_refused(hub: FakeHub, tmp_path: Path, name: str) -> None:
    dest = tmp_path / "model"
    hub.faults[hashlib.sha256(repo_files(tmp_path)[name]).hexdigest()] = "corrupt"
    with pytest.raises(HubDownloadFailed) as caught:
        download(hub, dest)
    assert name in caught.value.message and caught.value.hint and "HF_ENDPOINT" in caught.value.hint
    assert not (dest / name).exists()  # no unverified bytes at the final path
    assert not (dest / ".pais/source.json").exists()


def test_file_names_that_would_leave_dest_are_refused(tmp_path: Path) -> None:
    with FakeHub() as hub:
        hub.commit(REPO, {"config.json": b"{}", "../escape.txt": b"pwned"})
        with pytest.raises(UnsafeArtifact):
            download(hub, tmp_path / "model")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "model").exists()


def test_symlinks_in_dest_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "model"
    dest.mkdir()
    os.symlink(outside, dest / "sub")
    with FakeHub() as hub:
        hub.commit(REPO, {"config.json": b"{}", "sub/weights.bin": b"x" * 100})
        with pytest.raises(UnsafeArtifact):
            download(hub, dest)
    assert not list(outside.iterdir())


def test_dest_holding_another_repo_is_refused(hub: FakeHub, tmp_path: Path) -> None:
    dest = tmp_path / "model"
    download(hub, dest)
    hub.commit("other/model", {"config.json": b"{}"})
    with pytest.raises(UsageError):
        download_model("other/model", dest, endpoint=hub.url, progress=False)


def test_progress_bars_do_not_break_the_download(hub: FakeHub, tmp_path: Path) -> None:
    assert download_model(REPO, tmp_path / "model", endpoint=hub.url).files == 5
