"""The JSON shape of every command's `--output json`, written to docs/schemas/ as JSON Schema
(draft 2020-12). The tests validate real output against these files; this script is where they
are edited: `python scripts/json_schemas.py` rewrites them.

Objects allow extra properties: fields are added, never renamed or removed, within a major version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "docs" / "schemas"
BASE = "https://pais.dev/schemas/"

S: dict[str, Any] = {"type": "string"}
I: dict[str, Any] = {"type": "integer", "minimum": 0}
B: dict[str, Any] = {"type": "boolean"}
DIGEST: dict[str, Any] = {"type": "string", "pattern": "^sha256:[a-f0-9]{64}$"}
FLAVOR: dict[str, Any] = {"enum": ["cncf", "cnai"]}
STRINGS: dict[str, Any] = {"type": "array", "items": S}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(description: str, required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "description": description, "required": list(required),
            "properties": {**required, **(optional or {})}}


REPORT = obj("A validation report (docs/validation.md).", {
    "schemaVersion": {"const": 1}, "verdict": {"enum": ["pass", "fail"]}, "created": S,
    "tool": {"type": "object"}, "subject": {"type": "object"}, "skippedChecks": STRINGS,
    "allowed": obj("What the run was told to accept.", {"remoteCode": B, "code": STRINGS}, {"noWeights": B}),
    "checks": {"type": "array", "items": obj("One check.", {"name": S, "status": S, "seconds": {"type": "number"},
                                                            "summary": S, "findings": {"type": "array"}})},
    "files": {"type": "array", "items": obj("A file checked.", {"path": S, "size": I, "digest": S})},
})

SCHEMAS: dict[str, dict[str, Any]] = {
    "error": obj("Any command's error with --output json: on stderr, never stdout; the exit code repeated.", {
        "error": S, "hint": nullable(S), "exit_code": {"enum": [1, 2, 130]}}, {"report": REPORT}),
    "models-push": obj("pais models push", {
        "store": S, "model": S, "digest": DIGEST, "tags": STRINGS, "flavor": FLAVOR, "files": I, "bytes_total": I,
        "bytes_uploaded": I, "blobs_uploaded": I, "blobs_present": I, "skipped": STRINGS, "validated": B,
        "verdict": S, "note": nullable(S), "report_digest": nullable(DIGEST), "report": nullable(REPORT)}),
    "models-pull": obj("pais models pull", {
        "store": S, "model": S, "digest": DIGEST, "path": S, "files": I, "bytes_total": I, "bytes_downloaded": I}),
    "models-list": {"type": "array", "description": "pais models list: one object per revision", "items": obj("A revision.", {
        "model": S, "digest": DIGEST, "tags": STRINGS, "size": I, "files": I, "flavor": FLAVOR,
        "verdict": {"enum": ["pass", "fail", "unvalidated"]}, "validated": B})},
    "models-validate": REPORT,
    "models-inspect": obj("pais models inspect", {
        "model": S, "store": S, "digest": DIGEST, "tags": STRINGS, "flavor": FLAVOR, "size": I,
        "files": {"type": "array", "items": obj("A file.", {"path": S, "size": I, "kind": S, "digest": DIGEST})},
        "config": {"type": "object"}, "validated": B, "verdict": S, "validation_reason": S,
        "report": nullable({"type": "object"}), "reports": I}),
    "models-promote": obj("pais models promote", {
        "model": S, "source": S, "destination": S, "digest": DIGEST, "source_digest": DIGEST, "tag": S, "flavor": FLAVOR,
        "converted": B, "bytes_total": I, "bytes_copied": I, "blobs_copied": I, "blobs_mounted": I, "blobs_present": I,
        "reports_copied": I, "validated": B}),
    "models-delete": obj("pais models delete", {
        "model": S, "store": S, "deleted": S, "digest": DIGEST, "revision_removed": B}),
    "models-download": obj("pais models download", {
        "repo_id": S, "revision": nullable(S), "commit": {"type": "string", "pattern": "^[0-9a-f]{40}$"}, "path": S,
        "files": I, "bytes": I, "provenance": S}),
    "gallery-init": obj("pais gallery init", {
        "store": S, "kind": {"enum": ["disk", "registry"]}, "created": B, "reachable": B,
        "scheme": nullable({"enum": ["https", "http"]}), "tls_verified": nullable(B), "auth": nullable(S),
        "credentials": nullable(S), "push_allowed": nullable(B), "flavor": FLAVOR, "saved_as": nullable(S),
        "config_changed": B, "config_outcome": nullable({"enum": ["created", "updated", "unchanged"]}),
        "harbor": nullable({"type": "object"}), "notes": STRINGS}, {"robot_secret": S}),
    "gallery-list": obj("pais gallery list", {
        "config_file": S, "galleries": {"type": "array", "items": obj("A named gallery.", {
            "name": S, "store": S, "flavor": FLAVOR, "require_validated": B, "require_smoke": B, "production": B,
            "plain_http": B}, {"ca_file": S})}}),
    "gallery-remove": obj("pais gallery remove", {"removed": S, "store": S, "config_file": S}),
    "gallery-gc": obj("pais gallery gc", {
        "blobs": I, "staging_files": I, "referrer_indexes": I, "bytes_freed": I, "kept_young": I, "dry_run": B}),
    "endpoints-deploy": obj("pais endpoints deploy (with --dry-run: no manifests, no manifests_file)", {
        "routing_name": S, "name": S, "engine": S, "objects": {"type": "array", "items": obj("A Kubernetes object.", {
            "kind": S, "name": S})}}, {"manifests": {"type": "array"}, "manifests_file": nullable(S)}),
    "endpoints-list": {"type": "array", "description": "pais endpoints list", "items": obj("An endpoint.", {
        "routing_name": S, "engine": S, "status": S, "source": {"enum": ["cluster", "gateway"]}},
        {"model": nullable(S), "digest": nullable(S), "ready": nullable(I), "desired": nullable(I),
         "namespace": nullable(S), "kind": nullable(S)})},
    "endpoints-delete": obj("pais endpoints delete", {
        "routing_name": S, "namespace": nullable(S), "objects": STRINGS, "command": S, "applied": B}),
    "login": obj("pais login: where the credentials went, never the secret", {
        "host": S, "username": S, "stored_in": S, "scheme": {"enum": ["https", "http"]}}),
    "logout": obj("pais logout", {"host": S, "removed_from": STRINGS}),
}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, schema in SCHEMAS.items():
        doc = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{BASE}{name}.schema.json", **schema}
        (OUT / f"{name}.schema.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {len(SCHEMAS)} schemas to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
