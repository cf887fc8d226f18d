"""`models validate` end to end, and how its report gates push, list, pull and promote, on a
real registry (referrers tag schema: distribution 2.8 has no referrers API) and on disk."""

from __future__ import annotations

import json
from pathlib import Path


from pais_cli.app.galleries import open_gallery
from pais_cli.cli.settings import context
from pais_cli.gallery.referrers import list_referrers, referrers_tag
from pais_cli.validation.clamav import EICAR
from pais_cli.validation.report import REPORT_ARTIFACT_TYPE
from tests.conftest import pais


def test_validate_a_clean_model(tiny_model: Path, tmp_path: Path) -> None:
    result = pais("models", "validate", str(tiny_model), "-o", "json", "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["schemaVersion"] == 1 and report["verdict"] == "pass"
    assert [c["name"] for c in report["checks"]] == ["integrity", "malware", "serialization", "format", "smoke"]
    assert all(c["status"] == "pass" for c in report["checks"][:4]), report["checks"]
    assert report["checks"][4]["status"] == "skipped" and "--sandbox none" in report["checks"][4]["summary"]
    assert {f["path"] for f in report["files"]} == {"README.md", "config.json", "model.safetensors", "tokenizer.json"}
    assert all(f["digest"].startswith("sha256:") for f in report["files"])
    assert report["tool"]["pais"] and report["tool"]["malware.engine"].startswith("ClamAV")
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "pass"
    table = pais("models", "validate", str(tiny_model))
    assert table.exit_code == 0 and "verdict: pass" in table.stdout


def test_validate_finds_eicar_in_weights_and_exits_1(tiny_model: Path) -> None:
    weights = tiny_model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-200:-200 + len(EICAR)] = EICAR  # inside the tensor data: the header stays valid
    weights.write_bytes(bytes(data))
    result = pais("models", "validate", str(tiny_model), "-o", "json")
    assert result.exit_code == 1
    malware = next(c for c in result.json()["checks"] if c["name"] == "malware")
    assert malware["status"] == "fail"
    assert any(f["file"] == "model.safetensors" and "EICAR" in f["message"] for f in malware["findings"])


def test_skip_is_explicit_and_recorded(tiny_model: Path) -> None:
    result = pais("models", "validate", str(tiny_model), "--skip", "malware", "-o", "json")
    assert result.exit_code == 0
    report = result.json()
    assert report["skippedChecks"] == ["malware"]
    assert next(c for c in report["checks"] if c["name"] == "malware")["status"] == "skipped"
    assert "would not count as validated" in result.stderr
    assert pais("models", "validate", str(tiny_model), "--skip", "nonsense").exit_code == 2


def test_sarif_output(tiny_model: Path) -> None:
    (tiny_model / "modeling_custom.py").write_text("print('hi')\n")
    result = pais("models", "validate", str(tiny_model), "-o", "sarif")
    assert result.exit_code == 1
    sarif = result.json()
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["tool"]["driver"]["name"] == "pais"
    results = sarif["runs"][0]["results"]
    assert any(r["ruleId"] == "format.remote-code" and r["level"] == "error"
               and r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "modeling_custom.py" for r in results)


def test_checksum_list_mismatch_fails(tiny_model: Path) -> None:
    (tiny_model / "SHA256SUMS").write_text("0" * 64 + "  config.json\n")
    result = pais("models", "validate", str(tiny_model), "-o", "json")
    assert result.exit_code == 1
    integrity = next(c for c in result.json()["checks"] if c["name"] == "integrity")
    assert any(f["rule"] == "integrity.checksum-mismatch" and f["file"] == "config.json" for f in integrity["findings"])


def test_clamd_down_fails_the_check(tiny_model: Path, tmp_path: Path) -> None:
    result = pais("models", "validate", str(tiny_model), "--clamd", f"unix://{tmp_path}/nothing.sock", "-o", "json")
    assert result.exit_code == 1
    malware = next(c for c in result.json()["checks"] if c["name"] == "malware")
    assert malware["status"] == "fail" and malware["findings"][0]["rule"] == "malware.clamd-unreachable"


def test_failing_model_is_not_pushed_and_leaves_nothing(store: str, tiny_model: Path, unique_model: str) -> None:
    (tiny_model / "eicar.com").write_bytes(EICAR)
    result = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v1")
    assert result.exit_code == 1
    assert "failed validation" in result.stderr and "nothing was pushed" in result.stderr
    assert "eicar.com" in result.stderr  # the report's findings are shown
    listed = pais("models", "list", "-s", store, "-m", unique_model, "-o", "json")
    # Nothing of it is there: no such model (or, on disk, not even the gallery), an error, not an empty list.
    assert listed.exit_code == 1 and listed.stdout == ""
    assert f"no model {unique_model}" in listed.stderr or "is not a pais gallery" in listed.stderr
    gallery = open_gallery(context(), store)
    assert unique_model not in gallery.store.models()


def test_pushed_report_is_a_referrer_and_list_shows_it(store: str, tiny_model: Path, unique_model: str) -> None:
    pushed = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v1", "-o", "json").json()
    assert pushed["validated"] is True and pushed["report_digest"]
    repo = open_gallery(context(), store).store.repository(unique_model)
    reports = list_referrers(repo, pushed["digest"], REPORT_ARTIFACT_TYPE)
    assert [r.digest for r in reports] == [pushed["report_digest"]]
    # Distribution 2.8 and the layout have no referrers API: the tag schema index holds it.
    index, _ = repo.fetch_raw_manifest(referrers_tag(pushed["digest"]))
    assert json.loads(index)["manifests"][0]["artifactType"] == REPORT_ARTIFACT_TYPE
    listed = pais("models", "list", "-s", store, "-m", unique_model, "-o", "json").json()
    assert [(r["digest"], r["verdict"], r["validated"]) for r in listed] == [(pushed["digest"], "pass", True)]
    table = pais("models", "list", "-s", store, "-m", unique_model)
    assert "validated" in table.stdout


def test_require_validated_pull(store: str, tiny_model: Path, unique_model: str, tmp_path: Path) -> None:
    unvalidated = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "raw",
                       "--skip-validation", "-o", "json")
    assert unvalidated.exit_code == 0 and unvalidated.json()["validated"] is False
    assert "UNVALIDATED" in unvalidated.stderr
    refused = pais("models", "pull", "-m", unique_model, "-s", store, "-t", "raw", "--require-validated", "--dest", str(tmp_path / "a"))
    assert refused.exit_code == 1 and "not validated" in refused.stderr and "no validation report" in refused.stderr
    assert not (tmp_path / "a").exists()
    # Re-check the stored revision: the new report is attached and now counts.
    checked = pais("models", "validate", "-m", unique_model, "-s", store, "-t", "raw", "-o", "json")
    assert checked.exit_code == 0, checked.stderr
    assert checked.json()["subject"]["revision"] == unvalidated.json()["digest"]
    pulled = pais("models", "pull", "-m", unique_model, "-s", store, "-t", "raw", "--require-validated", "--dest", str(tmp_path / "b"))
    assert pulled.exit_code == 0, pulled.stderr


def test_a_report_with_a_skipped_check_does_not_count(store: str, tiny_model: Path, unique_model: str, tmp_path: Path) -> None:
    pushed = pais("models", "push", str(tiny_model), "-m", unique_model, "-s", store, "-t", "v1", "--skip", "serialization", "-o", "json")
    assert pushed.exit_code == 0 and pushed.json()["validated"] is False
    refused = pais("models", "pull", "-m", unique_model, "-s", store, "-t", "v1", "--require-validated", "--dest", str(tmp_path / "a"))
    assert refused.exit_code == 1 and "serialization check did not run" in refused.stderr


def test_gallery_setting_makes_validation_the_default(tiny_model: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "strict")
    assert pais("gallery", "init", "-s", store, "--require-validated").exit_code == 0
    pais("models", "push", str(tiny_model), "-m", "acme/raw", "-s", store, "-t", "v1", "--skip-validation")
    refused = pais("models", "pull", "-m", "acme/raw", "-s", store, "-t", "v1", "--dest", str(tmp_path / "a"))
    assert refused.exit_code == 1 and "not validated" in refused.stderr
    allowed = pais("models", "pull", "-m", "acme/raw", "-s", store, "-t", "v1", "--no-require-validated", "--dest", str(tmp_path / "b"))
    assert allowed.exit_code == 0


def test_require_smoke_turns_a_smoke_test_that_cannot_run_into_a_failure(tiny_model: Path) -> None:
    result = pais("models", "validate", str(tiny_model), "--require-smoke", "-o", "json")
    assert result.exit_code == 1
    smoke = result.json()["checks"][4]
    assert smoke["status"] == "fail" and smoke["findings"][0]["rule"] == "smoke.not-run"


def test_a_model_that_failed_security_checks_is_never_loaded(tiny_model: Path) -> None:
    (tiny_model / "eicar.com").write_bytes(EICAR)
    result = pais("models", "validate", str(tiny_model), "--sandbox", "local", "-o", "json")
    smoke = result.json()["checks"][4]
    assert smoke["status"] == "skipped" and "only a model that passed" in smoke["summary"]
