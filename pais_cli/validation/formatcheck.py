"""The `format` check: headers that parse as their format says, no remote code, no paths or
archives that escape or explode, no links out of the model. Reads headers only."""

from __future__ import annotations

import lzma
import re
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ..formats import archives, gguf, safetensors
from ..formats.safeio import read_prefix
from ..modeldir.snapshot import DirectoryProblem, DirectorySnapshot, SnapshotFile
from . import configs, onnxcheck
from .codefiles import HEAD_BYTES, AllowCode, code_finding
from .configs import REMOTE_CODE_HINT
from .report import CheckResult, Finding, Severity
from .resultcache import FileResults, judge_each
from .rules import RULESET_VERSION

MAX_RATIO = 200  # uncompressed / compressed; model weights barely compress, bombs compress 1000:1
MAX_UNCOMPRESSED = 256 * 1024**3  # 256 GiB: bigger than any archive a model should ship
PICKLE_ERA = {".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"}
ARCHIVE_SUFFIXES = {".zip", ".7z", ".tar", ".tgz", ".npz", ".nemo", ".keras"}
SMALL_FILE = 1 << 20  # files read whole for the text rules (requirements, .pth, setup.py)


def _problem_finding(p: DirectoryProblem) -> Finding:
    return Finding(p.rule, Severity.error, p.message, p.path, p.hint)


def _safetensors(entry: SnapshotFile) -> list[Finding]:
    return [Finding("format.safetensors", Severity.error, f"invalid safetensors: {problem}", entry.path,
                    "re-export the weights with the safetensors library")
            for problem in safetensors.layout_problems(entry.full)[:10]]


def _gguf(entry: SnapshotFile) -> list[Finding]:
    try:
        info = gguf.read_info(entry.full)
    except (gguf.GGUFError, OSError) as exc:
        return [Finding("format.gguf", Severity.error, f"invalid GGUF: {exc}", entry.path, "re-convert the model with llama.cpp")]
    template = info.chat_template
    if template and (problem := configs.template_problem(template)):
        return [Finding("format.chat-template-code", Severity.error, problem,
                        entry.path, "replace tokenizer.chat_template with the model's published template")]
    return []


def _member_problem(name: str) -> str | None:
    if name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
        return f"entry {name!r} has an absolute path"
    if ".." in PurePosixPath(name).parts:
        return f"entry {name!r} escapes the archive with '..'"
    return None


NEMO_TARGET = re.compile(rb"^\s*_target_\s*:\s*['\"]?([\w.]+)", re.MULTILINE)
NEMO_TARGET_ROOTS = ("nemo.", "torch.", "lightning.", "pytorch_lightning.", "omegaconf.", "megatron.", "transformers.")


def _member_content(entry: SnapshotFile, member: archives.Member, allow_remote_code: bool,
                    allow_code: AllowCode) -> list[Finding]:
    """An archive member checked by what it is: code and binaries, configs, templates, NeMo targets."""
    shown = f"{entry.path}!{member.name}"
    findings: list[Finding] = []
    if (f := code_finding(member.name, member.head, member.data, allow_code, shown_as=shown)) is not None:
        findings.append(f)
    lower = member.name.lower()  # .py members are not imported from an archive; TorchScript's code/ is vetted by serialization
    if member.data is not None and (configs.is_config(lower) or lower.endswith(".jinja")):
        for f in configs.check_config_bytes(member.name, member.data, allow_remote_code):
            findings.append(Finding(f.rule, f.severity, f"{shown}: {f.message}", entry.path, f.hint))
    if member.data is not None and lower.endswith((".yaml", ".yml")):
        for match in NEMO_TARGET.finditer(member.data):
            target = match.group(1).decode("utf-8", "replace")
            if not target.startswith(NEMO_TARGET_ROOTS):
                findings.append(Finding("format.config-target", Severity.error,
                                        f"{shown}: _target_ {target!r} names a class or function outside NeMo, torch and "
                                        "Lightning; Hydra imports and calls it when the model is restored", entry.path,
                                        "restore only configs whose _target_ entries name NeMo classes"))
                break
    return findings


def _archive(entry: SnapshotFile, head: bytes, allow_remote_code: bool, allow_code: AllowCode) -> list[Finding]:
    name = entry.path.lower()
    budget = archives.Budget.for_size(entry.size)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")) or name.endswith((".zip", ".npz", ".keras")):
        kind, members = "zip", archives.zip_members(entry.full, entry.size, budget)
    elif archives.is_tar(head) or name.endswith((".nemo", ".tar", ".tgz", ".tar.gz")):
        kind, members = "tar", archives.tar_members(entry.full, entry.size, budget)
    else:
        return []
    findings: list[Finding] = []
    total = count = 0
    try:
        for member in members:
            count += 1
            total += member.size
            if problem := _member_problem(member.name):
                findings.append(Finding("format.archive-path", Severity.error, problem, entry.path,
                                        "extracting it would write outside the target directory"))
            link = member.link
            if link is not None and (link.startswith("/") or ".." in PurePosixPath(link).parts):
                findings.append(Finding("format.archive-path", Severity.error,
                                        f"entry {member.name!r} links to {link!r}, outside the archive", entry.path,
                                        "do not ship archives with links"))
            if member.special:
                findings.append(Finding("format.archive-path", Severity.error, f"entry {member.name!r} is a device or FIFO",
                                        entry.path, "do not ship archives with special files"))
            findings += _member_content(entry, member, allow_remote_code, allow_code)
    except archives.ArchiveLimit as exc:
        findings.append(Finding("format.resource-limits", Severity.error, f"{kind} archive not fully read: {exc}", entry.path,
                                "a model should not ship such an archive"))
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError, NotImplementedError, zlib.error,
            lzma.LZMAError, struct.error) as exc:
        if kind == "tar" and count == 0 and not archives.is_tar(head) and not name.endswith((".nemo", ".tar", ".tgz", ".tar.gz")):
            return []
        findings.append(Finding("format.archive", Severity.error, f"archive cannot be read: {type(exc).__name__}: {exc}",
                                entry.path, "re-create the archive"))
    packed = max(entry.size, 1)
    if total > MAX_UNCOMPRESSED or total / packed > MAX_RATIO:
        findings.append(Finding("format.archive-bomb", Severity.error,
                                f"archive expands to {total} bytes from {entry.size} ({total / packed:.0f}:1)", entry.path,
                                "a decompression bomb would exhaust disk or memory; remove it"))
    return findings[:200]


def _read_head(entry: SnapshotFile) -> tuple[bytes, bytes | None]:
    """The first bytes, and the whole file when small (text rules read it all)."""
    if entry.size <= SMALL_FILE:
        data = read_prefix(entry.full, SMALL_FILE)
        return data[:HEAD_BYTES], data
    return read_prefix(entry.full, HEAD_BYTES), None


@dataclass
class _FileFormat:
    """The per-file rules' findings for one file: what the result cache keeps."""

    findings: list[Finding]
    readable: bool = True
    native: bool = False  # a native library (ONNX custom-op rules look for these)

    def to_json(self) -> dict[str, Any]:
        return {"findings": [f.to_json() for f in self.findings], "readable": self.readable, "native": self.native}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> _FileFormat:
        return cls([Finding.from_json(f) for f in obj["findings"]], obj["readable"], obj["native"])


def _judge_file(entry: SnapshotFile, allow_remote_code: bool, allow: AllowCode) -> _FileFormat:
    name = PurePosixPath(entry.path).name.lower()
    suffix = PurePosixPath(entry.path).suffix.lower()
    try:
        head, data = _read_head(entry)
    except OSError as exc:
        return _FileFormat([Finding("format.unreadable", Severity.error, f"cannot be read: {exc}", entry.path,
                                    "make the file readable, or remove it")], readable=False)
    judged = _FileFormat([])
    if (f := code_finding(entry.path, head, data, allow)) is not None:
        judged.findings.append(f)
        judged.native = f.rule == "format.native-code"
    if suffix == ".safetensors":
        judged.findings += _safetensors(entry)
    elif suffix == ".gguf":
        judged.findings += _gguf(entry)
    elif configs.is_config(entry.path) or suffix == ".jinja":
        judged.findings += configs.check_config_file(entry, allow_remote_code)
    if suffix in ARCHIVE_SUFFIXES or name.endswith(".tar.gz") or head.startswith((b"PK\x03\x04", b"PK\x05\x06")) \
            or archives.is_tar(head):
        judged.findings += _archive(entry, head, allow_remote_code, allow)
    return judged


def check_format(model: DirectorySnapshot, allow_remote_code: bool = False, allow_code: AllowCode | None = None,
                 known: FileResults | None = None) -> CheckResult:
    """The per-file rules for each file (`known`: results kept from an earlier run, by digest),
    then the rules across files, which run every time: they read little."""
    allow = allow_code or AllowCode()
    findings = [_problem_finding(p) for p in model.problems]
    readable: set[str] = set()
    native: list[str] = []
    each = judge_each(model.files, known, lambda entry: _judge_file(entry, allow_remote_code, allow),
                      _FileFormat.from_json)
    for path, judged in each.items():
        findings += judged.findings
        if judged.readable:
            readable.add(path)
        if judged.native:
            native.append(path)
    for entry in model.files:
        if onnxcheck.is_onnx(entry) and entry.path in readable:
            findings += onnxcheck.check_onnx_file(entry, model, native)
    for entry in model.files:
        if PurePosixPath(entry.path).suffix.lower() == ".py" and entry.path in readable:
            findings.append(Finding("format.remote-code", Severity.warning if allow_remote_code else Severity.error,
                                    "Python code in the model: transformers imports it when trust_remote_code is on",
                                    entry.path, REMOTE_CODE_HINT))
    suffixes = {PurePosixPath(e.path).suffix.lower() for e in model.files}
    if ".safetensors" in suffixes:
        for entry in model.files:
            if PurePosixPath(entry.path).suffix.lower() in PICKLE_ERA:
                findings.append(Finding("format.pickle-beside-safetensors", Severity.warning,
                                        "pickle-format weights beside a safetensors copy", entry.path,
                                        "drop the pickle-format copy: engines load the safetensors one, and a pickle can run code"))
    from_cache = sorted(known.from_cache) if known is not None else []
    summary = f"{len(model.files)} files: headers, names, links, archives, configs, code and binaries checked"
    return CheckResult.from_findings("format", findings, summary, files=len(model.files), from_cache=from_cache,
                                     allowedCode=list(allow.patterns), ruleset=RULESET_VERSION)
