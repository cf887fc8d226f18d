"""Rendering a validation report: a table of checks, the findings, and the verdict."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..smoke.check import SANDBOXES, TARGETS, SmokeOptions
from ..smoke.contract import SmokeLimits
from ..validation.malware import MalwareOptions
from ..validation.report import Report, to_sarif
from ..validation.validate import ValidationOptions
from .options import ReportFormat
from .output import Output

_SIZE = re.compile(r"^(\d+)\s*([KMG]i?B?)?$", re.IGNORECASE)


def parse_size(text: str) -> int:
    m = _SIZE.match(text.strip())
    if not m:
        raise UsageError(f"invalid size {text!r}", "write e.g. 100MiB, 2GiB or 1048576")
    unit = (m.group(2) or "B")[0].upper()
    return int(m.group(1)) * {"B": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[unit]


@dataclass
class SmokeFlags:
    """The smoke test's command-line options, as given."""

    sandbox: str | None = None
    target: str | None = None
    require: bool = False
    timeout: float = 300.0
    memory: str = "4GiB"
    docker_host: str | None = None
    image: str | None = None

    def options(self, gallery_requires: bool = False) -> SmokeOptions:
        if self.target is not None and self.target not in TARGETS:
            raise UsageError(f"invalid --target {self.target!r}", "use gpu or cpu")
        if self.sandbox is not None and self.sandbox not in SANDBOXES:
            raise UsageError(f"invalid --sandbox {self.sandbox!r}", f"use one of {', '.join(SANDBOXES)}")
        defaults = SmokeOptions()
        return SmokeOptions(
            sandbox=self.sandbox or defaults.sandbox, target=self.target, require=self.require or gallery_requires,
            limits=SmokeLimits(memory_bytes=parse_size(self.memory), timeout_s=self.timeout),
            docker_host=self.docker_host, image=self.image,
        )


def validation_options(skip: list[str] | None, checksums: Path | None, clamd: str | None, clamd_window: str | None,
                       allow_remote_code: bool, jobs: int = 4, smoke: SmokeFlags | None = None,
                       gallery_requires_smoke: bool = False) -> ValidationOptions:
    return ValidationOptions(
        skip=list(skip or []),
        checksums=checksums,
        allow_remote_code=allow_remote_code,
        malware=MalwareOptions(clamd=clamd, window=parse_size(clamd_window) if clamd_window else None, jobs=jobs),
        jobs=jobs,
        smoke=(smoke or SmokeFlags()).options(gallery_requires_smoke),
    )


def render_report(out: Output, report: Report, fmt: ReportFormat = ReportFormat.table) -> None:
    if fmt == ReportFormat.json:
        print(json.dumps(report.to_json(), indent=2))
        return
    if fmt == ReportFormat.sarif:
        print(json.dumps(to_sarif(report), indent=2))
        return
    print_report(out, report)


def print_report(out: Output, report: Report, stderr: bool = False) -> None:
    """The human view; on stderr when stdout carries something else (push's result, JSON)."""
    out.table(["CHECK", "STATUS", "SECONDS", "SUMMARY"],
              [[c.name, c.status.value, f"{c.seconds:.1f}", c.summary] for c in report.checks], stderr=stderr)
    findings = [f for c in report.checks for f in c.findings]
    if findings:
        out.table(["SEVERITY", "FILE", "RULE", "MESSAGE", "HINT"],
                  [[f.severity.value, f.file or "-", f.rule, f.message, f.hint or ""] for f in findings], stderr=stderr)
    (out.err if stderr else out.out).print(f"verdict: {report.verdict}", markup=False, highlight=False)
