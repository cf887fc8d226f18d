"""The format check: real files written by the safetensors and gguf packages pass; malformed,
escaping, exploding or code-carrying ones fail with a finding that names the file and why."""

from __future__ import annotations

import io
import json
import os
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from pais_cli.modeldir.digests import DigestCache
from pais_cli.modeldir.snapshot import snapshot_directory
from pais_cli.validation.formatcheck import check_format
from pais_cli.validation.report import Status
from tests.support.models import write_gguf


def run_format(directory: Path, allow_remote_code: bool = False):
    return check_format(snapshot_directory(directory, DigestCache()), allow_remote_code)


def rules(result) -> set[tuple[str, str | None]]:
    return {(f.rule, f.file) for f in result.findings}


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    save_file({"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(4, dtype=np.float16)}, str(d / "model.safetensors"))
    (d / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    (d / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {"a": 0}}}))
    write_gguf(d / "tiny.gguf")
    return d


def test_benign_files_pass(model_dir: Path) -> None:
    result = run_format(model_dir)
    assert result.status == Status.passed, result.findings


def _rewrite_header(path: Path, mutate) -> None:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    mutate(header)
    new = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n:])


@pytest.mark.parametrize("mutate,needle", [
    (lambda h: h["w"].__setitem__("dtype", "F99"), "unknown dtype"),
    (lambda h: h["w"].__setitem__("shape", [4, 4]), "needs"),
    (lambda h: h["w"].__setitem__("data_offsets", [8, 56]), "overlaps"),
    (lambda h: h["b"].__setitem__("data_offsets", [0, 8]), "overlaps"),
    (lambda h: h["w"].__setitem__("shape", [3, -4]), "invalid shape"),
])
def test_malformed_safetensors_fail(model_dir: Path, mutate, needle: str) -> None:
    _rewrite_header(model_dir / "model.safetensors", mutate)
    result = run_format(model_dir)
    assert result.status == Status.failed
    assert any(f.rule == "format.safetensors" and f.file == "model.safetensors" and needle in f.message for f in result.findings)


def test_safetensors_header_length_past_the_file(model_dir: Path) -> None:
    path = model_dir / "model.safetensors"
    raw = path.read_bytes()
    path.write_bytes(struct.pack("<Q", 2**40) + raw[8:])
    result = run_format(model_dir)
    assert ("format.safetensors", "model.safetensors") in rules(result)


def test_safetensors_trailing_bytes(model_dir: Path) -> None:
    with (model_dir / "model.safetensors").open("ab") as f:
        f.write(b"\0" * 16)
    assert ("format.safetensors", "model.safetensors") in rules(run_format(model_dir))


def test_gguf_with_a_string_longer_than_the_file(model_dir: Path) -> None:
    path = model_dir / "tiny.gguf"
    raw = bytearray(path.read_bytes())
    # The first metadata key's length field sits right after magic, version and two counts.
    struct.pack_into("<Q", raw, 4 + 4 + 8 + 8, 2**50)
    path.write_bytes(bytes(raw))
    result = run_format(model_dir)
    assert any(f.rule == "format.gguf" and f.file == "tiny.gguf" and "exceeds" in f.message for f in result.findings)


def test_gguf_tensor_count_beyond_the_file(model_dir: Path) -> None:
    path = model_dir / "tiny.gguf"
    raw = bytearray(path.read_bytes())
    struct.pack_into("<Q", raw, 8, 2**60)
    path.write_bytes(bytes(raw))
    assert any(f.rule == "format.gguf" and "cannot fit" in f.message for f in run_format(model_dir).findings)


def test_gguf_chat_template_with_code(model_dir: Path) -> None:
    evil = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    write_gguf(model_dir / "tiny.gguf", chat_template=evil)
    result = run_format(model_dir)
    assert any(f.rule == "format.chat-template-code" and f.file == "tiny.gguf" for f in result.findings)
    write_gguf(model_dir / "tiny.gguf", chat_template="{% for m in messages %}{{ m['content'] }}{% endfor %}")
    assert run_format(model_dir).status == Status.passed


def test_remote_code_fails_unless_allowed(model_dir: Path) -> None:
    (model_dir / "config.json").write_text(json.dumps({"auto_map": {"AutoModel": "modeling_evil.EvilModel"}}))
    (model_dir / "modeling_evil.py").write_text("import os\n")
    result = run_format(model_dir)
    assert result.status == Status.failed
    assert {("format.remote-code", "config.json"), ("format.remote-code", "modeling_evil.py")} <= rules(result)
    assert "--allow-remote-code" in (result.findings[0].hint or "")
    allowed = run_format(model_dir, allow_remote_code=True)
    assert allowed.status == Status.warn


def test_links_leaving_the_model_and_special_files(model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("x")
    (model_dir / "leak").symlink_to(tmp_path / "secret")
    os.mkfifo(model_dir / "pipe")
    result = run_format(model_dir)
    assert {("format.symlink", "leak"), ("format.special-file", "pipe")} <= rules(result)


def test_control_characters_in_names(model_dir: Path) -> None:
    (model_dir / "evil\x1b[2Jname.txt").write_text("x")
    assert any(f.rule == "format.path-name" for f in run_format(model_dir).findings)


def test_zip_slip_and_absolute_entries(model_dir: Path) -> None:
    with zipfile.ZipFile(model_dir / "extras.zip", "w") as z:
        z.writestr("../../etc/cron.d/x", "boom")
        z.writestr("/abs", "boom")
    result = run_format(model_dir)
    messages = [f.message for f in result.findings if f.rule == "format.archive-path" and f.file == "extras.zip"]
    assert any("'..'" in m for m in messages) and any("absolute" in m for m in messages)


def test_tar_with_a_link_out(model_dir: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(info)
    (model_dir / "data.tar").write_bytes(buf.getvalue())
    assert ("format.archive-path", "data.tar") in rules(run_format(model_dir))


def test_decompression_bomb(model_dir: Path) -> None:
    with zipfile.ZipFile(model_dir / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("zeros.bin", b"\0" * (64 * 1024 * 1024))
    result = run_format(model_dir)
    assert any(f.rule == "format.archive-bomb" and f.file == "bomb.zip" and ":1" in f.message for f in result.findings)


def test_pickle_weights_beside_safetensors_warn(model_dir: Path) -> None:
    (model_dir / "pytorch_model.bin").write_bytes(b"PK\x03\x04")
    result = run_format(model_dir)
    assert ("format.pickle-beside-safetensors", "pytorch_model.bin") in rules(result)
