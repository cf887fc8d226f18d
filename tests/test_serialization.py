"""The serialization check against hand-built malicious and benign model files.

Every malicious sample would create a marker file if anything unpickled it; the check must name
the file and the global, and the marker must never appear. Nothing here loads a sample.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from backports import zstd  # installed with py7zr

from pais_cli.formats.pickles import Limits, is_pickle_format_file, pickle_format, walk_pickles
from pais_cli.modeldir.snapshot import DirectorySnapshot, SnapshotFile
from pais_cli.validation.report import CheckResult, Finding, Severity, Status
from pais_cli.validation.serialization import ALLOWED_GLOBALS, check_serialization
from tests.support import malicious as m
from tests.support.models import write_tiny_model


def model_at(directory: Path) -> DirectorySnapshot:
    files = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        files.append(SnapshotFile(path.relative_to(directory).as_posix(), path, path.stat().st_size, digest))
    return DirectorySnapshot(directory, files)


def check(directory: Path, limits: Limits | None = None) -> CheckResult:
    return check_serialization(model_at(directory), *([limits] if limits else []))


def findings_for(result: CheckResult, file: str, rule: str) -> list[Finding]:
    return [f for f in result.findings if f.file == file and f.rule == rule]


def the_finding(result: CheckResult, file: str, rule: str, *needles: str) -> Finding:
    found = [f for f in findings_for(result, file, rule) if all(n in f.message for n in needles)]
    assert found, f"no {rule} finding on {file} mentioning {needles}: {[(f.file, f.rule, f.message) for f in result.findings]}"
    assert found[0].severity == Severity.error or rule.endswith("op-layer")
    return found[0]


def write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


Builder = Callable[[Path], bytes]

# (file name, builder, rule, words the finding must contain)
MALICIOUS: list[tuple[str, Builder, str, tuple[str, ...]]] = [
    ("p0.pkl", m.os_system_proto0, "serialization.dangerous-global", ("os.system", "calls it")),
    ("p2.pickle", m.subprocess_popen_proto2, "serialization.dangerous-global", ("subprocess.Popen",)),
    ("p4.pkl", lambda mk: m.exec_stack_global(mk, 4), "serialization.dangerous-global", ("builtins.exec",)),
    ("p5.pkl", lambda mk: m.exec_stack_global(mk, 5), "serialization.dangerous-global", ("builtins.exec",)),
    ("two.pkl", lambda mk: m.two_pickles(m.exec_stack_global(mk)), "serialization.dangerous-global",
     ("pickle #2", "builtins.exec")),
    ("pytorch_model.bin", lambda mk: m.torch_zip(m.exec_stack_global(mk)), "serialization.dangerous-global",
     ("pytorch_model.bin!archive/data.pkl", "builtins.exec")),
    ("legacy.pt", lambda mk: m.legacy_torch(m.os_system_proto0(mk)), "serialization.dangerous-global",
     ("pickle #4", "os.system")),
    ("old_tar.pt", lambda mk: m.legacy_torch_tar(m.subprocess_popen_proto2(mk)), "serialization.dangerous-global",
     ("old_tar.pt!pickle", "subprocess.Popen")),
    ("objects.npy", lambda mk: m.npy_object(m.exec_stack_global(mk, 3)), "serialization.dangerous-global",
     ("after the .npy header", "builtins.exec")),
    ("arrays.npz", lambda mk: m.zip_bytes({"a.npy": m.npy_object(m.posix_system(mk))}), "serialization.dangerous-global",
     ("arrays.npz!a.npy", "posix.system")),
    ("model.joblib", m.os_system_proto0, "serialization.dangerous-global", ("os.system",)),
    ("model_gz.joblib", lambda mk: m.gzip_bytes(m.exec_stack_global(mk)), "serialization.dangerous-global",
     ("<gzip>", "builtins.exec")),
    ("frame.pkl.zst", lambda mk: zstd.compress(m.posix_system(mk)),
     "serialization.dangerous-global", ("<zstd>", "posix.system")),
    ("model.xz", lambda mk: lzma.compress(m.nt_system_inst(mk)), "serialization.dangerous-global",
     ("<xz>", "nt.system")),
    ("bundle.zip", lambda mk: m.zip_bytes({"weights/model.pkl": m.subprocess_popen_proto2(mk)}),
     "serialization.dangerous-global", ("bundle.zip!weights/model.pkl", "subprocess.Popen")),
    ("odd_names.zip", lambda mk: m.zip_bytes({"weights": m.os_system_proto0(mk), "../../x\\y.dat": b"filler"}),
     "serialization.dangerous-global", ("odd_names.zip!weights", "os.system")),
    ("crc.bin", lambda mk: m.raw_zip([("archive/data.pkl", m.exec_stack_global(mk)), ("archive/version", b"3\n")],
                                     bad_crc=True), "serialization.dangerous-global", ("crc.bin!archive/data.pkl", "builtins.exec")),
    ("names.bin", lambda mk: m.raw_zip([("archive/data.pkl", m.exec_stack_global(mk)), ("archive/version", b"3\n")],
                                       local_names={"archive/data.pkl": "archive/x.pkl"}), "serialization.dangerous-global",
     ("names.bin!archive/data.pkl", "builtins.exec")),
    ("confusion.bin", lambda mk: m.directory_confusion(m.exec_stack_global(mk), m.state_dict_pickle()),
     "serialization.unanalysable", ("central directory is not where its end record says",)),
    ("bundle.7z", lambda mk: m.sevenzip_bytes({"inner/model.pkl": m.exec_stack_global(mk)}),
     "serialization.dangerous-global", ("bundle.7z!inner/model.pkl", "builtins.exec")),
    ("hidden.safetensors", m.os_system_proto0, "serialization.dangerous-global", ("os.system",)),
    ("notes.txt", lambda mk: m.exec_stack_global(mk, 2), "serialization.dangerous-global", ("builtins.exec",)),
    ("alias.pkl", m.builtin_alias_eval, "serialization.dangerous-global", ("builtins.eval", "written as __builtin__.eval")),
    ("posix.pkl", m.posix_system, "serialization.dangerous-global", ("posix.system",)),
    ("nt.pkl", m.nt_system_inst, "serialization.dangerous-global", ("nt.system", "calls it")),
    ("memo.pkl", m.memo_confusion, "serialization.dangerous-global", ("os.system",)),
    ("spawn.pkl", m.spawnv_passfds, "serialization.dangerous-global", ("multiprocessing.util.spawnv_passfds",)),
    ("computed.pkl", m.computed_stack_global, "serialization.unresolvable-global", ("STACK_GLOBAL on computed operands",)),
    ("ext.pkl", lambda mk: m.ext_code(), "serialization.unresolvable-global", ("EXT1 extension code 5",)),
    ("memo2.pkl", m.memo_across_pickles, "serialization.unanalysable", ("pickle #2", "reads memo entries")),
    ("frames.pt", lambda mk: m.torch_zip(m.frame_confusion(mk)), "serialization.unanalysable",
     ("frames.pt!archive/data.pkl", "crosses the end of a FRAME")),
    ("truncated.pkl", m.truncated_after_call, "serialization.dangerous-global", ("os.system", "breaks off")),
    ("polyglot.pkl", lambda mk: m.zip_polyglot(m.os_system_proto0(mk)), "serialization.dangerous-global", ("os.system",)),
    ("nested.zip", lambda mk: m.zip_bytes({"inner.7z": m.sevenzip_bytes({"deep.tar": m.tar_bytes({"x.pkl": m.posix_system(mk)})})}),
     "serialization.dangerous-global", ("nested.zip!inner.7z!deep.tar!x.pkl", "posix.system")),
]


@pytest.mark.parametrize(("name", "build", "rule", "needles"), MALICIOUS, ids=[c[0] for c in MALICIOUS])
def test_malicious_sample_fails_naming_file_and_global(tmp_path: Path, name: str, build: Builder, rule: str,
                                                       needles: tuple[str, ...]) -> None:
    model = tmp_path / "model"
    marker = tmp_path / "MARKER"
    write(model, name, build(marker))
    write(model, "config.json", b'{"model_type": "llama"}')
    result = check(model)
    assert result.status == Status.failed
    finding = the_finding(result, name, rule, *needles)
    assert finding.hint
    assert not findings_for(result, "config.json", rule)
    assert not marker.exists()


def test_no_payload_ever_runs(tmp_path: Path) -> None:
    """All samples in one model, one marker each; the whole check (picklescan included) runs."""
    model = tmp_path / "model"
    markers = []
    for i, (name, build, _, _) in enumerate(MALICIOUS):
        marker = tmp_path / f"MARKER-{i}"
        markers.append(marker)
        write(model, name, build(marker))
    result = check(model)
    assert result.status == Status.failed
    failed = {f.file for f in result.findings if f.severity == Severity.error}
    assert failed == {name for name, *_ in MALICIOUS}
    assert not [mk for mk in markers if mk.exists()]
    assert not list(tmp_path.glob("MARKER*"))


def test_computed_name_also_breaks_the_codec_rule(tmp_path: Path) -> None:
    write(tmp_path, "computed.pkl", m.computed_stack_global(tmp_path / "MARKER"))
    result = check(tmp_path)
    the_finding(result, "computed.pkl", "serialization.call-not-allowed", "_codecs.encode", "'rot13'", "latin1")


def test_picklescan_opinion_is_recorded(tmp_path: Path) -> None:
    write(tmp_path, "p0.pkl", m.os_system_proto0(tmp_path / "MARKER"))
    result = check(tmp_path)
    ps = result.details["picklescanOpinion"]
    assert result.details["picklescan"] == ps["version"] and ps["version"] and ps["picklesScanned"] >= 1
    assert "p0.pkl: os.system" in ps["dangerous"]
    the_finding(result, "p0.pkl", "serialization.picklescan-dangerous", "os.system", f"picklescan {ps['version']}")


# --------------------------------------------------------------------------- Keras


def test_keras_archive_with_lambda_fails(tmp_path: Path) -> None:
    write(tmp_path, "model.keras", m.keras_archive(m.keras_config(m.keras_lambda_layer())))
    result = check(tmp_path)
    the_finding(result, "model.keras", "serialization.keras-lambda", "model.keras!config.json", "Lambda layer 'evil_lambda'")
    the_finding(result, "model.keras", "serialization.keras-lambda", "__lambda__")
    assert result.details["kerasConfigs"] == ["model.keras!config.json"]


def test_keras_module_outside_keras_fails(tmp_path: Path) -> None:
    rogue = {"module": "os", "class_name": "system", "config": {"name": "x"}, "registered_name": None}
    write(tmp_path, "model.keras", m.keras_archive(m.keras_config(rogue)))
    result = check(tmp_path)
    the_finding(result, "model.keras", "serialization.keras-module-not-allowed", "os.system")


@pytest.mark.parametrize("escaped", [False, True], ids=["plain-json", "escaped-keys"])
def test_h5_model_config_with_lambda_fails(tmp_path: Path, escaped: bool) -> None:
    write(tmp_path, "model.h5", m.hdf5_like(m.keras2_lambda_config(), json_escape_keys=escaped))
    result = check(tmp_path)
    the_finding(result, "model.h5", "serialization.keras-lambda", "model.h5 (JSON at byte", "Lambda layer 'lambda'")


def test_h5_search_survives_chunk_edges_whitespace_and_long_strings(tmp_path: Path) -> None:
    config = m.keras2_lambda_config()
    config["config"]["layers"][1]["config"]["function"][0] = "A" * 300_000  # longer than the first read window
    text = json.dumps(config).encode()
    edge = 8 << 20  # the search reads 8 MiB at a time
    data = b"\x89HDF\r\n\x1a\n" + bytes(edge - 8 - 2) + b"{" + b" " * 70_000 + text[1:] + bytes(1024)
    write(tmp_path, "weights.h5", data)
    result = check(tmp_path)
    the_finding(result, "weights.h5", "serialization.keras-lambda", f"JSON at byte {edge - 2}", "Lambda layer 'lambda'")


def test_keras_tf_op_layer_warns(tmp_path: Path) -> None:
    op = {"module": "keras.layers", "class_name": "TFOpLambda", "config": {"name": "tf.math.add", "function": "math.add"}}
    write(tmp_path, "model.keras", m.keras_archive(m.keras_config(op)))
    result = check(tmp_path)
    assert result.status == Status.warn
    the_finding(result, "model.keras", "serialization.keras-op-layer", "TFOpLambda layer 'tf.math.add'")


# --------------------------------------------------------------------------- benign


def test_benign_model_files_pass(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    model = write_tiny_model(tmp_path / "model")
    save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, str(model / "extra.safetensors"))
    write(model, "pytorch_model.bin", m.torch_zip(m.state_dict_pickle()))
    write(model, "legacy.pt", m.legacy_torch(m.state_dict_pickle()))
    np.save(model / "floats.npy", np.linspace(0, 1, 10))
    np.savez(model / "arrays.npz", a=np.arange(3), b=np.ones((2, 2), dtype=np.float16))
    write(model, "tokenizer_config.json", json.dumps({"model_max_length": 512, "class_name": "not keras"}).encode())
    write(model, "model.keras", m.keras_archive(m.keras_config()))
    write(model, "model.h5", m.hdf5_like(m.keras_config()))
    write(model, "weights.zip", m.zip_bytes({"w.npy": (model / "floats.npy").read_bytes()}))
    result = check(model)
    assert result.status == Status.passed, [(f.file, f.rule, f.message) for f in result.findings]
    assert not [f for f in result.findings if f.severity != Severity.info]
    details = result.details
    assert set(details["pickleFiles"]) == {"pytorch_model.bin", "legacy.pt"}
    assert details["globalsSeen"]["notAllowed"] == {}
    assert {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch.FloatStorage"} <= set(details["globalsSeen"]["allowed"])
    assert details["formats"]["pytorch_model.bin"] == ["pickle", "torch-zip"]
    assert details["formats"]["legacy.pt"] == ["torch-legacy"]
    assert {a["location"] for a in details["archivesOpened"]} >= {"pytorch_model.bin", "arrays.npz", "model.keras", "weights.zip"}
    assert set(details["kerasConfigs"]) >= {"model.keras!config.json"}
    assert "extra.safetensors" not in details["formats"] and "model.safetensors" not in details["formats"]
    assert details["picklescan"] and details["picklescanOpinion"]["version"] == details["picklescan"]
    legacy = [p for p in details["pickles"] if p["location"].startswith("legacy.pt")]
    assert len(legacy) == 5 and legacy[3]["persistentIds"] == 1


@pytest.mark.parametrize("protocol", range(6))
def test_numpy_and_plain_containers_pass_in_every_protocol(tmp_path: Path, protocol: int) -> None:
    # pickle.dumps of harmless data only: arrays, numpy scalars, sets, complex, bytes (via _codecs)
    data = {"a": np.arange(4.0), "s": np.float32(1.5), "i": np.int64(3), "set": {1, 2}, "fs": frozenset([3]),
            "c": 1 + 2j, "b": b"\x00\xff", "o": np.array([1, "x"], dtype=object), "t": (1, "two", None)}
    write(tmp_path, "data.pkl", pickle.dumps(data, protocol=protocol))
    result = check(tmp_path)
    assert result.status == Status.passed, [(f.rule, f.message) for f in result.findings]


def test_text_and_binary_non_pickles_are_not_flagged(tmp_path: Path) -> None:
    write(tmp_path, "README.md", b"# cat\ndog\n\nThe model card. Nothing here is a pickle.\n")
    write(tmp_path, "vocab.txt", b"cat\ndog\nI\n.\n")  # starts with a GLOBAL opcode, never completes one
    write(tmp_path, "merges.txt", b"#version: 0.2\nh e\n")
    write(tmp_path, "model.gguf", b"GGUF\x03\x00\x00\x00" + bytes(64))
    write(tmp_path, "noise.bin", bytes(range(256)) * 64)
    result = check(tmp_path)
    assert not [f for f in result.findings if f.severity != Severity.info], [(f.file, f.message) for f in result.findings]
    assert result.details["pickleFiles"] == []
    assert result.details["malformedPickleFiles"] == ["vocab.txt"]


# --------------------------------------------------------------------------- bounds


def test_opcode_bound_fails_as_unanalysable(tmp_path: Path) -> None:
    write(tmp_path, "pytorch_model.bin", m.torch_zip(m.state_dict_pickle()))
    result = check(tmp_path, Limits(max_ops=10))
    the_finding(result, "pytorch_model.bin", "serialization.resource-limits", "more than 10 opcodes")


def test_depth_and_member_bounds_fail_as_resource_limits(tmp_path: Path) -> None:
    write(tmp_path, "nested.zip", m.zip_bytes({"a.zip": m.zip_bytes({"b.zip": m.zip_bytes({"c.pkl": m.benign_int_pickle()})})}))
    write(tmp_path, "many.zip", m.zip_bytes({f"f{i}.txt": b"x" for i in range(20)}))
    result = check(tmp_path, Limits(max_depth=2, max_members=10))
    the_finding(result, "nested.zip", "serialization.resource-limits", "nested deeper than 2")
    the_finding(result, "many.zip", "serialization.resource-limits", "20 archive members")


def test_file_opcode_budget_covers_all_members(tmp_path: Path) -> None:
    members = {f"m{i}.pkl": pickle.dumps(list(range(50)), protocol=4) for i in range(10)}
    write(tmp_path, "many.zip", m.zip_bytes(members))
    result = check(tmp_path, Limits(max_file_ops=200))
    the_finding(result, "many.zip", "serialization.resource-limits", "more than 200 opcodes in this file")


def test_decompression_budget_stops_a_bomb(tmp_path: Path) -> None:
    import zipfile

    write(tmp_path, "bomb.zip", m.zip_bytes({"big.pkl": b"\x80\x04" + b"N0" * (4 << 20) + b"N."}, zipfile.ZIP_DEFLATED))
    result = check(tmp_path, Limits(max_archive_bytes=1 << 20))
    the_finding(result, "bomb.zip", "serialization.resource-limits", "decompressed bytes")


def test_walker_resolves_stack_global_through_dup_and_marks() -> None:
    import io

    data = (m.proto(4) + m.unicode("os") + b"(" + m.unicode("junk") + b"1" + b"2" + b"0" + m.unicode("system")
            + m.STACK_GLOBAL + b"0" + b"N.")
    pickles, _ = walk_pickles(io.BytesIO(data), "x", size=len(data), seekable=True)
    assert pickles[0].complete and ("os", "system") in pickles[0].globals


# --------------------------------------------------------------------------- helper for the format check


def test_is_pickle_format_file(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    cases = {
        "pytorch_model.bin": (m.torch_zip(m.state_dict_pickle()), "torch-zip"),
        "legacy.pt": (m.legacy_torch(m.state_dict_pickle()), "torch-legacy"),
        "old.pt": (m.legacy_torch_tar(m.benign_int_pickle()), "torch-tar"),
        "model.ckpt": (pickle.dumps({"a": 1}), "pickle"),
        "config.json": (b'{"a": 1}', None),
        "weights.npz": (m.zip_bytes({"a.npy": b"\x93NUMPY"}), None),
    }
    for name, (data, kind) in cases.items():
        write(tmp_path, name, data)
        assert pickle_format(tmp_path / name) == kind, name
        assert is_pickle_format_file(tmp_path / name) == (kind is not None)
    save_file({"w": np.zeros(2, dtype=np.float32)}, str(tmp_path / "model.safetensors"))
    assert not is_pickle_format_file(tmp_path / "model.safetensors")


def test_allowlist_is_minimal() -> None:
    forbidden = {("builtins", n) for n in ("getattr", "eval", "exec", "__import__", "bytearray", "slice", "object")}
    forbidden |= {("os", "system"), ("posix", "system"), ("torch", "load"), ("__builtin__", "set"), ("copyreg", "_reconstructor")}
    assert not forbidden & set(ALLOWED_GLOBALS)
    assert all(why for why in ALLOWED_GLOBALS.values())
