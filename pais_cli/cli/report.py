"""Rendering a validation report: a table of checks, the findings, and the verdict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..app.validate import CheckOptions
from ..errors import UsageError
from ..smoke.check import SANDBOXES, TARGETS, SmokeOptions
from ..smoke.contract import SmokeLimits
from ..units import parse_size
from ..validation.malware import MalwareOptions
from ..validation.report import Report, to_sarif
from ..validation.validate import ValidationOptions
from . import settings
from .options import ReportFormat
from .output import Output


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
        return SmokeOptions(
            sandbox=self.sandbox or settings.env(settings.SANDBOX) or "auto", target=self.target,
            require=self.require or gallery_requires,
            limits=SmokeLimits(memory_bytes=parse_size(self.memory, "--smoke-memory"), timeout_s=self.timeout),
            docker_host=self.docker_host or settings.env(settings.DOCKER_HOST), image=self.image,
            library_path=settings.env("LD_LIBRARY_PATH"),
        )


def clamd_list(text: str) -> list[str]:
    """$PAIS_CLAMD: one address, or several separated by commas or spaces."""
    return [part for part in text.replace(",", " ").split() if part]


def check_options(skip: list[str] | None, checksums: Path | None, clamd: str | list[str] | None, clamd_window: str | None,
                  allow_remote_code: bool, jobs: int = 4, smoke: SmokeFlags | None = None,
                  gallery_requires_smoke: bool = False, include_hidden: bool = False,
                  allow_code: list[str] | None = None, allow_no_weights: bool = False, no_cache: bool = False,
                  trust_gallery_reports: bool = False) -> CheckOptions:
    clamd_from = "--clamd"
    addresses = [clamd] if isinstance(clamd, str) else list(clamd or [])
    if not addresses and (from_env := settings.env(settings.CLAMD)):
        addresses, clamd_from = clamd_list(from_env), f"${settings.CLAMD}"
    clamd_conf = settings.env(settings.CLAMD_CONF)
    malware = MalwareOptions(clamd=addresses or None, clamd_from=clamd_from, clamd_conf=Path(clamd_conf) if clamd_conf else None,
                             window=parse_size(clamd_window, "--clamd-window") if clamd_window else None, jobs=jobs)
    security = ValidationOptions(skip=list(skip or []), checksums=checksums, allow_remote_code=allow_remote_code,
                                 allow_code=list(allow_code or []), malware=malware, jobs=jobs,
                                 allow_no_weights=allow_no_weights)
    return CheckOptions(security, (smoke or SmokeFlags()).options(gallery_requires_smoke), include_hidden,
                        use_cache=not no_cache, trust_gallery_reports=trust_gallery_reports)


def render_report(out: Output, report: Report, fmt: ReportFormat = ReportFormat.table) -> None:
    if fmt == ReportFormat.json:
        out.data(report.to_json())
        return
    if fmt == ReportFormat.sarif:
        out.data(to_sarif(report))
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
