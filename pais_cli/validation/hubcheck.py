"""The Hugging Face part of the `integrity` check: the files against what the Hub published,
as recorded in the directory by the download (see `pais_cli.modeldir.provenance`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..modeldir.provenance import (
    GIT_BLOB_SHA1,
    SHA256,
    ExpectedDigest,
    hub_expected_digests,
    read_source_record,
)
from ..modeldir.snapshot import DirectorySnapshot
from .report import Finding, Severity


@dataclass
class _Tally:
    proven: dict[str, int] = field(default_factory=lambda: {SHA256: 0, GIT_BLOB_SHA1: 0})
    mismatched: int = 0
    missing: int = 0
    not_covered: int = 0


def verify_against_hub(model: DirectorySnapshot, expected: dict[str, ExpectedDigest] | None = None,
                       problems: list[str] | None = None) -> list[Finding]:
    """Compare the model's files with what the Hub published for them.

    A file whose digest differs is an `integrity.hub-mismatch` error; a file the metadata lists
    but that is not on disk is `integrity.missing-file`; local files without metadata are fine
    (not proven). Ends with one `integrity.hub-proven` info finding counting what was proven.
    A directory without Hub metadata gives no findings at all. `expected` and `problems`, when
    given, are what `hub_expected_digests` already read (the metadata is read once).
    """
    problems = [] if problems is None else problems
    if expected is None:
        expected = hub_expected_digests(model.root, problems)
    findings = [Finding("integrity.hub-metadata-invalid", Severity.warning, p, hint="download the model again to rewrite it")
                for p in problems]
    if not expected:
        return findings  # not downloaded from the Hub (or its metadata is gone): nothing to say

    by_path = {f.path: f for f in model.files}
    tally = _Tally()
    for path, exp in expected.items():
        at = f" (commit {exp.commit[:12]})" if exp.commit else ""
        if exp.conflicts:
            findings.append(Finding(
                "integrity.hub-metadata-conflict", Severity.error,
                f"{path}: the download metadata disagree: {exp.sources[0]} says {exp.digest}, "
                + "; ".join(exp.conflicts), file=path,
                hint="the directory mixes downloads of different revisions: download it again"))
        entry = by_path.get(path)
        if entry is None:
            full = model.root / path
            if full.is_file() and not full.is_symlink():
                tally.not_covered += 1  # on disk but outside the files under test (hidden)
            else:
                tally.missing += 1
                findings.append(Finding("integrity.missing-file", Severity.error,
                                        f"{path} was downloaded from the Hub{at} but is not in the model directory",
                                        file=path, hint="download the model again, or find out who removed it"))
            continue
        kind = "sha256" if exp.algorithm == SHA256 else "git blob sha1"
        if exp.size is not None and entry.size != exp.size:
            wanted, actual = f"size {exp.size}", f"size {entry.size}"  # no need to hash
        else:
            wanted, actual = f"{kind} {exp.value}", f"{kind} {exp.actual(entry.full, entry.digest)}"
        if actual == wanted:
            tally.proven[exp.algorithm] += 1
            continue
        tally.mismatched += 1
        findings.append(Finding(
            "integrity.hub-mismatch", Severity.error,
            f"{path} differs from the Hub{at}: expected {wanted}, found {actual}",
            file=path, hint="the file changed after download: download it again, or find out who changed it"))

    record = None
    try:
        record = read_source_record(model.root)
    except (OSError, ValueError):
        pass
    commits = {e.commit for e in expected.values() if e.commit}
    origin = ""
    if record is not None and record.get("repoId"):
        origin = f" of {record['repoId']}@{str(record.get('commit', ''))[:12]}"
    elif len(commits) == 1:
        origin = f" of commit {next(iter(commits))[:12]}"
    unproven = sum(1 for f in model.files if f.path not in expected)
    total_proven = sum(tally.proven.values())
    summary = (f"{total_proven} of {len(expected)} files{origin} proven identical to the Hub "
               f"({tally.proven[SHA256]} by sha256, {tally.proven[GIT_BLOB_SHA1]} by git blob sha1)")
    extras = [f"{tally.mismatched} differ" if tally.mismatched else "",
              f"{tally.missing} missing" if tally.missing else "",
              f"{tally.not_covered} hidden, not checked" if tally.not_covered else "",
              f"{unproven} local files have no Hub metadata (not proven)" if unproven else ""]
    extras = [e for e in extras if e]
    findings.append(Finding("integrity.hub-proven", Severity.info, summary + ("; " + ", ".join(extras) if extras else "")))
    return findings
