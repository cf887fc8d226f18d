"""Validation reports kept beside the revision they judge, and what "validated" means.

A report is a referrer of the model manifest with artifactType
application/vnd.pais.validation.report.v1+json (see `pais_cli.gallery.referrers`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import NotValidated
from ..gallery.modelpack import model_files
from ..gallery.oci import Descriptor, Manifest, canonical_json
from ..gallery.referrers import ANNOTATION_CREATED, attach, payloads
from ..gallery.stores.base import ReferrerStore
from ..validation.report import REPORT_ARTIFACT_TYPE, Report

ANNOTATION_VERDICT = "vnd.pais.validation.verdict"


def attach_report(repo: ReferrerStore, subject: Descriptor, report: Report) -> Descriptor:
    return attach(repo, subject, REPORT_ARTIFACT_TYPE, canonical_json(report.to_json()), REPORT_ARTIFACT_TYPE,
                  "validation-report.json",
                  {ANNOTATION_CREATED: report.created, ANNOTATION_VERDICT: report.verdict})


def reports(repo: ReferrerStore, subject_digest: str) -> list[Report]:
    """Every report attached to a revision, newest first."""
    return [Report.from_json(json.loads(payload)) for _, payload in payloads(repo, subject_digest, REPORT_ARTIFACT_TYPE)]


@dataclass
class ValidationState:
    validated: bool
    verdict: str  # "pass", "fail", or "unvalidated" when no report exists
    reason: str
    report: Report | None = None
    reports: int = 0  # how many reports the revision has


def validation_state(repo: ReferrerStore, manifest: Manifest) -> ValidationState:
    """Validated: the newest report passed, ran the four security checks, and covers exactly
    the revision's files (paths and digests)."""
    found = reports(repo, manifest.digest)
    if not found:
        return ValidationState(False, "unvalidated", "it has no validation report")
    newest = found[0]
    ok, why = newest.counts_as_validation()
    if not ok:
        return ValidationState(False, newest.verdict, why, newest, len(found))
    layers = [(f.path, f.digest) for f in model_files(manifest)]
    if not newest.covers(layers):
        return ValidationState(False, newest.verdict, "its newest report does not cover exactly its files", newest, len(found))
    return ValidationState(True, "pass", "validated", newest, len(found))


def require_validation(repo: ReferrerStore, manifest: Manifest, model: str, shown: str, store: str,
                       or_else: str) -> ValidationState:
    """NotValidated, saying how to validate, unless the revision counts as validated."""
    state = validation_state(repo, manifest)
    if not state.validated:
        raise NotValidated(
            f"{shown} is not validated: {state.reason}",
            f"validate it with `pais models validate --modelName {model} --modelStore {store} "
            f"--digest {manifest.digest}`, or {or_else}",
        )
    return state
