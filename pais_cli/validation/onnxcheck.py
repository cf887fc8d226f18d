"""ONNX models: external data that stays inside the model, operators from the standard domains.

ONNX Runtime reads an initializer's external data from `location`, relative to the model file;
an absolute path or `..` makes it read any host file into a tensor (and back out through the
model's outputs). Operators from other domains are custom ops that only run when a native library
registering them is loaded; shipped beside the model, that library is native code.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import PurePosixPath

from ..formats import onnx
from ..modeldir.snapshot import DirectorySnapshot, SnapshotFile
from .report import Finding, Severity

STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training", "com.microsoft"}
HINT_PATH = "re-save the model with onnx.save_model(..., save_as_external_data=True) so locations are file names beside it"


def _path_problem(location: str, model_path: str, files: set[str]) -> tuple[str, str] | None:
    """(rule, why) when an external-data location is unsafe or names no file in the model."""
    if not location:
        return "format.onnx-external-data-missing", "has external data without a location"
    if location.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", location) or "\x00" in location:
        return "format.onnx-external-data-path", f"reads external data from the absolute path {location!r}"
    parts = re.split(r"[\\/]", location)
    if ".." in parts:
        return "format.onnx-external-data-path", f"reads external data from {location!r}, which climbs out with '..'"
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(model_path), location.replace("\\", "/")))
    if joined.startswith("../") or joined == "..":
        return "format.onnx-external-data-path", f"reads external data from {location!r}, outside the model directory"
    if joined not in files:
        return "format.onnx-external-data-missing", f"reads external data from {location!r}, which is not in the model"
    return None


def check_onnx_file(entry: SnapshotFile, model: DirectorySnapshot, native_libraries: list[str]) -> list[Finding]:
    try:
        info = onnx.read_onnx(entry.full, entry.size)
    except onnx.ProtoLimit as exc:
        return [Finding("format.resource-limits", Severity.error, f"ONNX model not fully read: {exc} (file of {entry.size} bytes)",
                        entry.path, "a real export stays within these bounds; do not load this file")]
    except (onnx.ProtoError, OSError) as exc:
        return [Finding("format.onnx", Severity.error, f"not a readable ONNX model: {exc}", entry.path,
                        "re-export the model with the onnx package")]
    findings: list[Finding] = []
    files = {f.path for f in model.files}
    seen: set[tuple[str, str]] = set()
    for tensor in info.external:
        problem = _path_problem(tensor.location or "", entry.path, files)
        if problem is not None and (problem[0], tensor.location or "") not in seen and len(seen) < 50:
            seen.add((problem[0], tensor.location or ""))
            findings.append(Finding(problem[0], Severity.error, f"initializer {tensor.name!r} {problem[1]}", entry.path,
                                    HINT_PATH if problem[0].endswith("-path") else "ship the external data file beside the model"))
    custom = sorted({d for d, _ in info.operators} - STANDARD_DOMAINS)
    if custom:
        ops = sorted(f"{d}::{op}" for d, op in info.operators if d in custom)[:10]
        if native_libraries:
            findings.append(Finding("format.onnx-custom-op", Severity.error,
                                    f"operators from non-standard domains ({', '.join(ops)}) with native libraries shipped "
                                    f"in the model ({', '.join(native_libraries[:5])}): loading them runs native code",
                                    entry.path, "remove the libraries; custom operators must come from the serving runtime"))
        else:
            findings.append(Finding("format.onnx-custom-op", Severity.warning,
                                    f"operators from non-standard domains: {', '.join(ops)}; they run only with a custom-op "
                                    "library loaded into the runtime", entry.path,
                                    "check that the serving runtime provides these operators"))
    return findings


def is_onnx(entry: SnapshotFile) -> bool:
    return PurePosixPath(entry.path).suffix.lower() == ".onnx"
