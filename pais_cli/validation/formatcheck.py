"""The `format` check: headers that parse as their format says, no remote code, no paths or
archives that escape or explode, no links out of the model. Reads headers only."""

from __future__ import annotations

import json
import re
import tarfile
import zipfile
from pathlib import PurePosixPath

from ..formats import gguf, safetensors
from ..modeldir.snapshot import DirectoryProblem, DirectorySnapshot, SnapshotFile
from .report import CheckResult, Finding, Severity

MAX_RATIO = 200  # uncompressed / compressed; model weights barely compress, bombs compress 1000:1
MAX_UNCOMPRESSED = 256 * 1024**3  # 256 GiB: bigger than any archive a model should ship
MAX_MEMBERS = 100_000
PICKLE_ERA = {".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"}
REMOTE_CODE_HINT = "review the code, then pass --allow-remote-code; transformers runs it with trust_remote_code=True"
# Jinja constructs that reach Python objects: the known llama.cpp / transformers template escapes.
TEMPLATE_CODE = re.compile(
    r"__\w+__|\.mro\b|\bimport\b|\bos\.|\bsubprocess\b|\bpopen\b|\beval\s*\(|\bexec\s*\(|\bgetattr\b|\bself\._|"
    r"\blipsum\b|\bcycler\b|\bjoiner\b|\brequest\.|\bconfig\.__",
    re.IGNORECASE,
)


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
    if template and (match := TEMPLATE_CODE.search(template)):
        return [Finding("format.chat-template-code", Severity.error,
                        f"chat template reaches for Python objects ({match.group(0)!r}): a template injection",
                        entry.path, "replace tokenizer.chat_template with the model's published template")]
    return []


def _hf_config(entry: SnapshotFile, allow_remote_code: bool) -> list[Finding]:
    try:
        if entry.size > 16 * 1024 * 1024:
            return []
        obj = json.loads(entry.full.read_bytes())
    except (OSError, ValueError):
        # Engines refuse to load a model whose config.json does not parse; other configs are optional.
        severity = Severity.error if entry.path.rsplit("/", 1)[-1] == "config.json" else Severity.warning
        return [Finding("format.json", severity, "config file is not valid JSON", entry.path,
                        "re-export the model's configuration files")]
    if isinstance(obj, dict) and obj.get("auto_map"):
        severity = Severity.warning if allow_remote_code else Severity.error
        return [Finding("format.remote-code", severity,
                        f"auto_map makes transformers import code from the model: {json.dumps(obj['auto_map'])[:200]}",
                        entry.path, REMOTE_CODE_HINT)]
    if isinstance(obj, dict) and isinstance(obj.get("chat_template"), str) and (m := TEMPLATE_CODE.search(obj["chat_template"])):
        return [Finding("format.chat-template-code", Severity.error,
                        f"chat template reaches for Python objects ({m.group(0)!r}): a template injection", entry.path,
                        "replace chat_template with the model's published template")]
    return []


def _member_problem(name: str) -> str | None:
    if name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
        return f"entry {name!r} has an absolute path"
    if ".." in PurePosixPath(name).parts:
        return f"entry {name!r} escapes the archive with '..'"
    return None


def _archive(entry: SnapshotFile) -> list[Finding]:
    members: list[tuple[str, int, int]] = []  # name, uncompressed, compressed
    try:
        if zipfile.is_zipfile(entry.full):
            with zipfile.ZipFile(entry.full) as z:
                members = [(i.filename, i.file_size, i.compress_size) for i in z.infolist()[: MAX_MEMBERS + 1]]
        elif entry.path.endswith(".7z"):
            import py7zr

            with py7zr.SevenZipFile(entry.full) as z:
                members = [(i.filename, i.uncompressed or 0, i.compressed or 0) for i in z.list()[: MAX_MEMBERS + 1]]
        elif tarfile.is_tarfile(entry.full):
            with tarfile.open(entry.full) as t:
                for i, m in enumerate(t):
                    if i > MAX_MEMBERS:
                        break
                    members.append((m.name, m.size, m.size))
                    if m.issym() or m.islnk():
                        link = m.linkname
                        if link.startswith("/") or ".." in PurePosixPath(link).parts:
                            return [Finding("format.archive-path", Severity.error,
                                            f"entry {m.name!r} links to {link!r}, outside the archive", entry.path,
                                            "do not ship archives with links")]
        else:
            return []
    except Exception as exc:  # noqa: BLE001 - any parser error on hostile bytes is a finding, not a crash
        return [Finding("format.archive", Severity.error, f"archive cannot be read: {type(exc).__name__}: {exc}", entry.path,
                        "re-create the archive")]
    findings: list[Finding] = []
    if len(members) > MAX_MEMBERS:
        findings.append(Finding("format.archive-bomb", Severity.error, f"archive has more than {MAX_MEMBERS} entries", entry.path,
                                "a model should not ship such an archive"))
    for name, _, _ in members:
        if problem := _member_problem(name):
            findings.append(Finding("format.archive-path", Severity.error, problem, entry.path,
                                    "extracting it would write outside the target directory"))
    total = sum(m[1] for m in members)
    packed = max(entry.size, 1)
    if total > MAX_UNCOMPRESSED or total / packed > MAX_RATIO:
        findings.append(Finding("format.archive-bomb", Severity.error,
                                f"archive expands to {total} bytes from {entry.size} ({total / packed:.0f}:1)", entry.path,
                                "a decompression bomb would exhaust disk or memory; remove it"))
    return findings


def check_format(model: DirectorySnapshot, allow_remote_code: bool = False) -> CheckResult:
    findings = [_problem_finding(p) for p in model.problems]
    code_files = []
    for entry in model.files:
        name = PurePosixPath(entry.path).name.lower()
        suffix = PurePosixPath(entry.path).suffix.lower()
        if suffix == ".safetensors":
            findings += _safetensors(entry)
        elif suffix == ".gguf":
            findings += _gguf(entry)
        elif name in ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json"):
            findings += _hf_config(entry, allow_remote_code)
        elif suffix == ".py":
            code_files.append(entry.path)
        if suffix in (".zip", ".7z", ".tar", ".tgz", ".gz", ".npz") or name.endswith(".tar.gz"):
            findings += _archive(entry)
    for path in code_files:
        findings.append(Finding("format.remote-code", Severity.warning if allow_remote_code else Severity.error,
                                "Python code in the model: transformers imports it when trust_remote_code is on", path,
                                REMOTE_CODE_HINT))
    suffixes = {PurePosixPath(e.path).suffix.lower() for e in model.files}
    if ".safetensors" in suffixes:
        for entry in model.files:
            if PurePosixPath(entry.path).suffix.lower() in PICKLE_ERA:
                findings.append(Finding("format.pickle-beside-safetensors", Severity.warning,
                                        "pickle-format weights beside a safetensors copy", entry.path,
                                        "drop the pickle-format copy: engines load the safetensors one, and a pickle can run code"))
    summary = f"{len(model.files)} files: headers, names, links, archives and remote code checked"
    return CheckResult.from_findings("format", findings, summary, files=len(model.files))
