"""The validation report: checks, findings, a verdict. JSON (schemaVersion 1) and SARIF 2.1.0."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

SCHEMA_VERSION = 1
REPORT_ARTIFACT_TYPE = "application/vnd.pais.validation.report.v1+json"
REQUIRED_CHECKS = ("integrity", "malware", "serialization", "format")


class Status(str, Enum):
    passed = "pass"
    warn = "warn"
    failed = "fail"
    skipped = "skipped"


class Severity(str, Enum):
    info = "info"
    warning = "warning"
    error = "error"


@dataclass
class Finding:
    """One thing a check saw. `error` findings fail their check; `warning` ones warn."""

    rule: str  # stable id, e.g. "serialization.global-not-allowed"
    severity: Severity
    message: str
    file: str | None = None  # path inside the model
    hint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity.value, "message": self.message,
                "file": self.file, "hint": self.hint}

    @classmethod
    def from_json(cls, f: dict[str, Any]) -> Finding:
        return cls(f["rule"], Severity(f["severity"]), f["message"], f.get("file"), f.get("hint"))


def has_error(findings: list[Finding]) -> bool:
    """Any finding that fails its check."""
    return any(f.severity == Severity.error for f in findings)


@dataclass
class CheckResult:
    name: str
    status: Status
    summary: str  # one line: what was checked, or why it was skipped
    findings: list[Finding] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # engine versions, timings, coverage
    seconds: float = 0.0

    @classmethod
    def from_findings(cls, name: str, findings: list[Finding], summary: str, **details: Any) -> CheckResult:
        if has_error(findings):
            status = Status.failed
        elif any(f.severity == Severity.warning for f in findings):
            status = Status.warn
        else:
            status = Status.passed
        return cls(name, status, summary, findings, dict(details))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "summary": self.summary,
                "seconds": round(self.seconds, 3), "details": self.details,
                "findings": [f.to_json() for f in self.findings]}


def verdict(checks: list[CheckResult]) -> str:
    return "fail" if any(c.status == Status.failed for c in checks) else "pass"


@dataclass
class Report:
    tool: dict[str, str]
    subject: dict[str, Any]  # model name, revision digest when known, source directory
    files: list[dict[str, Any]]  # every file covered: path, size, digest
    checks: list[CheckResult]
    skipped_checks: list[str]
    created: str  # RFC 3339; reports are not part of the model digest, so a time is fine here
    verdict: str = ""
    allowed: dict[str, Any] = field(default_factory=dict)  # what the user allowed: remoteCode, code paths

    def __post_init__(self) -> None:
        if not self.verdict:
            self.verdict = verdict(self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "schemaVersion": SCHEMA_VERSION,
            "verdict": self.verdict,
            "created": self.created,
            "tool": self.tool,
            "subject": self.subject,
            "skippedChecks": self.skipped_checks,
            "allowed": self.allowed,
            "checks": [c.to_json() for c in self.checks],
            "files": self.files,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Report:
        checks = [
            CheckResult(c["name"], Status(c["status"]), c.get("summary", ""),
                        [Finding.from_json(f) for f in c.get("findings", [])],
                        c.get("details", {}), c.get("seconds", 0.0))
            for c in obj.get("checks", [])
        ]
        return cls(obj.get("tool", {}), obj.get("subject", {}), obj.get("files", []), checks,
                   obj.get("skippedChecks", []), obj.get("created", ""), obj.get("verdict", ""), obj.get("allowed", {}))

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def covers(self, file_digests: list[tuple[str, str]]) -> bool:
        """True when the report's files are exactly these (path, digest) pairs."""
        return sorted((f["path"], f["digest"]) for f in self.files) == sorted(file_digests)

    def counts_as_validation(self) -> tuple[bool, str]:
        """Whether this report validates a revision, and if not, why."""
        if self.verdict != "pass":
            return False, f"its newest report's verdict is {self.verdict}"
        for name in REQUIRED_CHECKS:
            result = self.check(name)
            if result is None or result.status == Status.skipped:
                return False, f"the {name} check did not run in its newest report"
        return True, "validated"


SARIF_LEVEL = {Severity.error: "error", Severity.warning: "warning", Severity.info: "note"}


def to_sarif(report: Report) -> dict[str, Any]:
    """SARIF 2.1.0: one run, one rule per rule id, one result per finding."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for check in report.checks:
        for f in check.findings:
            rules.setdefault(f.rule, {"id": f.rule, "name": f.rule.replace(".", "/"),
                                      "shortDescription": {"text": f"{check.name} check"},
                                      **({"help": {"text": f.hint}} if f.hint else {})})
            result: dict[str, Any] = {"ruleId": f.rule, "level": SARIF_LEVEL[f.severity], "message": {"text": f.message}}
            if f.file:
                result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": f.file, "uriBaseId": "MODELROOT"}}}]
            results.append(result)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "pais", "version": report.tool.get("pais", ""),
                                "rules": list(rules.values())}},
            "results": results,
            "invocations": [{"executionSuccessful": True,
                             "properties": {"verdict": report.verdict,
                                            "checks": {c.name: c.status.value for c in report.checks}}}],
        }],
    }


def as_dict(obj: Any) -> dict[str, Any]:
    return asdict(obj)
