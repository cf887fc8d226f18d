"""The command line as installed: version, help, exit codes and the stable JSON shapes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pais_cli import __version__
from tests.conftest import pais


def installed_pais() -> str:
    return str(Path(sys.executable).parent / "pais")


def test_version_and_help_from_the_installed_script() -> None:
    done = subprocess.run([installed_pais(), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"pais {__version__}"
    for args in (["--help"], ["models", "--help"], ["gallery", "init", "--help"]):
        done = subprocess.run([installed_pais(), *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    done = subprocess.run([installed_pais(), "models", "--help"], capture_output=True, text=True, timeout=60)
    assert all(name in done.stdout for name in ("push", "pull", "list"))


def test_vcf_and_kebab_spellings(tiny_model: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "g")
    vcf = pais("models", "push", str(tiny_model), "--modelName", "acme/a", "--modelStore", store, "--tag", "v1", "-o", "json")
    kebab = pais("models", "push", str(tiny_model), "--model-name", "acme/a", "--model-store", store, "-t", "v1", "--output", "json")
    assert vcf.exit_code == kebab.exit_code == 0
    assert vcf.json()["digest"] == kebab.json()["digest"]


def test_usage_errors_exit_2_and_failures_exit_1(tmp_path: Path) -> None:
    assert pais("models", "push", "--modelName", "Bad/Name", "-t", "v1", str(tmp_path)).exit_code == 2
    assert pais("models", "pull", "-m", "acme/a", "-t", "v1", "-d", "sha256:" + "0" * 64).exit_code == 2
    assert pais("models", "list", "--output", "yaml").exit_code == 2
    missing = pais("models", "pull", "-m", "acme/none", "-s", str(tmp_path / "g"), "-t", "v1")
    assert missing.exit_code == 1
    lines = [line for line in missing.stderr.splitlines() if line.startswith(("error:", "hint:"))]
    assert len(lines) == 2 and "Traceback" not in missing.stderr


def test_push_json_is_stable(tiny_model: Path, tmp_path: Path) -> None:
    out = pais("models", "push", str(tiny_model), "-m", "acme/a", "-s", str(tmp_path / "g"), "-t", "v1", "-o", "json").json()
    assert set(out) >= {"digest", "tags", "bytes_total", "bytes_uploaded", "files", "validated", "verdict", "report"}
    assert out["validated"] is True and out["report"]["schemaVersion"] == 1


def test_unreachable_registry_fails_fast_with_a_hint(tiny_model: Path) -> None:
    env = {**os.environ}
    done = subprocess.run(
        [installed_pais(), "models", "push", str(tiny_model), "-m", "acme/a", "-s", "127.0.0.1:9/models", "-t", "v1"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert done.returncode == 1
    assert "cannot reach registry 127.0.0.1:9" in done.stderr and "hint:" in done.stderr


def test_json_output_is_parseable_when_piped(tiny_model: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [installed_pais(), "models", "push", str(tiny_model), "-m", "acme/a", "-s", str(tmp_path / "g"), "-t", "v1", "-o", "json"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tags"] == ["v1"]
    listed = subprocess.run([installed_pais(), "models", "list", "-s", str(tmp_path / "g")], capture_output=True, text=True, timeout=60)
    assert listed.stdout.splitlines()[0].split("\t") == ["MODEL", "DIGEST", "TAGS", "SIZE", "FILES", "VALIDATION"]
