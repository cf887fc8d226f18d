"""The `integrity` check: every file's sha256 (computed once, shared with push), verified
against a checksum list and the Hugging Face download metadata when they are there."""

from __future__ import annotations

import re
from pathlib import Path

from ..modeldir.provenance import hub_expected_digests
from ..modeldir.snapshot import DirectorySnapshot
from .hubcheck import verify_against_hub
from .report import CheckResult, Finding, Severity

CHECKSUM_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def parse_checksums(text: str) -> dict[str, str]:
    """`sha256sum` output: '<hex>  <path>' or '<hex> *<path>' per line."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if m := CHECKSUM_LINE.match(line.strip()):
            path = m.group(2).strip()
            out[path[2:] if path.startswith("./") else path] = "sha256:" + m.group(1).lower()
    return out


def check_integrity(model: DirectorySnapshot, checksums: Path | None = None) -> CheckResult:
    findings: list[Finding] = []
    by_path = {f.path: f for f in model.files}
    proven: set[str] = set()
    sources: list[str] = []
    listed: dict[str, str] = {}
    list_name = None
    if checksums is not None:
        listed, list_name = parse_checksums(checksums.read_text(errors="replace")), str(checksums)
    elif "SHA256SUMS" in by_path:
        listed, list_name = parse_checksums(by_path["SHA256SUMS"].full.read_text(errors="replace")), "SHA256SUMS"
    if list_name:
        sources.append(list_name)
        for path, expected in sorted(listed.items()):
            entry = by_path.get(path)
            if entry is None:
                findings.append(Finding("integrity.missing-file", Severity.error, f"listed in {list_name} but missing", path,
                                        "restore the file or fix the checksum list"))
            elif entry.digest != expected:
                findings.append(Finding("integrity.checksum-mismatch", Severity.error,
                                        f"sha256 is {entry.digest}, {list_name} says {expected}", path,
                                        "the file changed since the list was written: download it again"))
            else:
                proven.add(path)
    hub_findings, hub_proven = _hub(model)
    if hub_proven or hub_findings:
        sources.append("Hugging Face download metadata")
    findings += hub_findings
    proven |= hub_proven
    summary = f"{len(model.files)} files hashed (sha256)"
    if sources:
        summary += f"; {len(proven)} proven against {' and '.join(sources)}"
    return CheckResult.from_findings("integrity", findings, summary, files=len(model.files), proven=sorted(proven),
                                     sources=sources)


def _hub(model: DirectorySnapshot) -> tuple[list[Finding], set[str]]:
    problems: list[str] = []
    expected = hub_expected_digests(model.root, problems)
    findings = verify_against_hub(model, expected, problems)
    errors = {f.file for f in findings if f.severity == Severity.error}
    present = {e.path for e in model.files}
    return findings, {p for p in expected if p not in errors and p in present}
