"""TensorFlow graphs (SavedModel `saved_model.pb`, frozen `.pb` GraphDefs): ops that run Python
or touch the host's files, in the main graph and in every function of the library.

A SavedModel's graph runs when it is served; an op like ReadFile or WriteFile then reads or
writes any path the graph names, PyFunc runs Python by name, ImmutableConst maps a host file into
a tensor. Only the saver's own checkpoint ops are expected, and only where the saver puts them:
the `__inference__traced_save_N` / `__inference__traced_restore_N` functions (TF2) or the scope of
the SaverDef's restore op (TF1, `save/`).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ..formats import tfgraph
from ..modeldir.snapshot import SnapshotFile
from .report import Finding, Severity

PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
# Ops that open, list, write or delete host paths, or read host files into tensors (from TensorFlow's
# op registry: io_ops, data ops, lookup ops, summary and debug ops).
HOST_OPS = {
    "ReadFile", "WriteFile", "MatchingFiles", "MatchingFilesDataset", "DeleteFile", "RecursivelyCreateDir",
    "ImmutableConst", "Save", "SaveSlices", "Restore", "RestoreSlice",
    "WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2", "FixedLengthRecordReader",
    "FixedLengthRecordReaderV2", "TFRecordReader", "TFRecordReaderV2", "LMDBReader", "IdentityReader",
    "IdentityReaderV2", "ReaderReadV2", "ReaderRead", "ReaderReadUpToV2", "ReaderRestoreStateV2",
    "TextLineDataset", "TFRecordDataset", "TFRecordDatasetV2", "FixedLengthRecordDataset",
    "FixedLengthRecordDatasetV2", "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset", "SqlDataset",
    "ExperimentalSqlDataset", "LMDBDataset", "ExperimentalLMDBDataset", "SaveDataset", "SaveDatasetV2",
    "LoadDataset", "ExperimentalLoadDataset", "DatasetToTFRecord", "ExperimentalDatasetToTFRecord",
    "SnapshotDataset", "SnapshotDatasetV2", "CacheDataset", "CacheDatasetV2",
    "InitializeTableFromTextFile", "InitializeTableFromTextFileV2",
    "CreateSummaryFileWriter", "CreateSummaryDbWriter", "SummaryWriter",
    "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount", "DebugNumericSummary",
    "GenerateVocabRemapping", "LoadAndRemapMatrix", "DecodeProtoV2", "EncodeProto",
    "Rpc", "TryRpc", "RpcClient", "RpcCall", "RpcServer", "RpcServerStart", "RpcServerRegister",
}
# The saver's checkpoint ops: allowed in the saver's functions and scope only.
SAVER_OPS = {"SaveV2", "RestoreV2", "MergeV2Checkpoints", "ShardedFilename", "ShardedFilespec"}
SAVER_FUNCTION = re.compile(r"^__inference__traced_(save|restore)_\d+$")
# PrintV2 writes to stderr/stdout/log unless output_stream names a file
PRINT_STREAMS = {"stderr", "stdout", "log(info)", "log(warning)", "log(error)", ""}

HINT = ("Do not serve this graph. Re-export the model without file, Python or network ops in its graph "
        "(a SavedModel needs none of them to load its variables).")


def _where(node: tfgraph.TfNode) -> str:
    return f"function {node.function}" if node.function else "the main graph"


def judge_graph(path: str, graph: tfgraph.TfGraph) -> list[Finding]:
    findings: dict[tuple[str, str], Finding] = {}

    def add(rule: str, key: str, message: str) -> None:
        if (rule, key) not in findings and len(findings) < 200:
            findings[(rule, key)] = Finding(rule, Severity.error, message, path, HINT)

    for node in graph.nodes:
        op = node.op
        if op in PYTHON_OPS:
            add("serialization.tf-python-op", f"{node.function}:{op}",
                f"{op} node {node.name!r} in {_where(node)} runs a Python function by name when the graph runs")
        elif op in HOST_OPS:
            add("serialization.tf-host-op", f"{node.function}:{op}",
                f"{op} node {node.name!r} in {_where(node)} reads, writes or lists host files (or the network) "
                "when the graph runs")
        elif op == "PrintV2" and node.strings.get("output_stream", "") not in PRINT_STREAMS:
            add("serialization.tf-host-op", f"{node.function}:{op}",
                f"PrintV2 node {node.name!r} in {_where(node)} writes to {node.strings['output_stream'][:200]!r}")
        elif op in SAVER_OPS:
            in_saver = (SAVER_FUNCTION.match(node.function) is not None if node.function
                        else any(node.name.startswith(s) for s in graph.saver_scopes))
            if not in_saver:
                add("serialization.tf-host-op", f"{node.function}:{op}",
                    f"{op} node {node.name!r} in {_where(node)} reads or writes checkpoint files outside the "
                    "saver's own functions")
    return list(findings.values())


def is_tf_graph(entry: SnapshotFile) -> bool:
    return PurePosixPath(entry.path).suffix.lower() == ".pb"


def check_tf_file(entry: SnapshotFile) -> tuple[list[Finding], dict[str, int] | None]:
    """Findings and a summary for one .pb file; a .pb that is not a graph gives neither."""
    saved = PurePosixPath(entry.path).name == "saved_model.pb"
    try:
        graph = tfgraph.read_graph(entry.full, entry.size, saved_model=saved)
    except tfgraph.ProtoLimit as exc:
        return [Finding("serialization.resource-limits", Severity.error,
                        f"TensorFlow graph not fully read: {exc} (file of {entry.size} bytes)", entry.path,
                        "a real graph stays within these bounds; do not serve this file")], None
    except (tfgraph.ProtoError, OSError) as exc:
        if saved:
            return [Finding("serialization.unanalysable", Severity.error, f"saved_model.pb cannot be read as a SavedModel: {exc}",
                            entry.path, "re-export the SavedModel")], None
        return [], None  # another protobuf (fingerprint.pb, keras_metadata.pb): not a graph
    if not saved and not any(n.op for n in graph.nodes):
        return [], None
    return judge_graph(entry.path, graph), {"nodes": len(graph.nodes), "functions": len(graph.functions),
                                            "fields": graph.fields_read}
