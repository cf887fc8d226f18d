"""References as users type them, named galleries managed, no silent nonsense, output on pipes."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from pais_cli.cli.options import OutputFormat
from pais_cli.cli.output import Output, command
from pais_cli.errors import RegistryError
from tests.conftest import pais
from tests.support.registry import RegistryServer


def test_model_colon_tag_and_at_digest_everywhere(tiny_model: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "g")
    pushed = pais("models", "push", str(tiny_model), "--modelName", "baai/bge:approved", "--modelStore", store, "-o", "json")
    assert pushed.exit_code == 0, pushed.stderr
    digest = pushed.json()["digest"]  # type: ignore[index]
    assert pais("models", "pull", "baai/bge:approved", "-s", store, "--dest", str(tmp_path / "a")).exit_code == 0
    assert pais("models", "pull", "-m", f"baai/bge@{digest}", "-s", store, "--dest", str(tmp_path / "b")).exit_code == 0
    inspected = pais("models", "inspect", "--modelName", "baai/bge:approved", "-s", store, "-o", "json")
    assert inspected.json()["digest"] == digest  # type: ignore[index]
    twice = pais("models", "pull", "baai/bge:approved", "--tag", "approved", "-s", store)
    assert twice.exit_code == 2 and "given twice" in twice.stderr


def test_one_argument_registry_reference(registry: RegistryServer, tiny_model: Path, unique_model: str, tmp_path: Path) -> None:
    ref = f"{registry.host}/models/{unique_model}:v1"
    assert pais("models", "push", str(tiny_model), "-m", ref).exit_code == 0
    pulled = pais("models", "pull", ref, "--dest", str(tmp_path / "p"), "-o", "json")
    assert pulled.exit_code == 0, pulled.stderr
    assert pulled.json()["model"] == unique_model  # type: ignore[index]
    both = pais("models", "pull", ref, "-s", f"{registry.host}/models")
    assert both.exit_code == 2 and "--modelStore" in both.stderr


def test_gallery_list_and_remove(tmp_path: Path, isolated_user: Path) -> None:
    first = pais("gallery", "init", "-s", str(tmp_path / "dev"), "--name", "dev", "-o", "json")
    assert first.json()["config_outcome"] == "created"  # type: ignore[index]
    again = pais("gallery", "init", "-s", str(tmp_path / "dev"), "--name", "dev", "--require-validated", "-o", "json")
    assert again.json()["config_outcome"] == "updated"  # type: ignore[index]
    listed = pais("gallery", "list", "-o", "json").json()
    assert listed["config_file"] == str(isolated_user / "config.toml")  # type: ignore[index]
    assert [g["name"] for g in listed["galleries"]] == ["dev"] and listed["galleries"][0]["require_validated"]  # type: ignore[index]
    table = pais("gallery", "list")
    assert table.stdout.splitlines()[1].split("\t")[:3] == ["dev", str(tmp_path / "dev"), "cncf"]
    assert "require-validated" in table.stdout and str(isolated_user / "config.toml") in table.stderr
    assert pais("gallery", "remove", "dev").exit_code == 0
    missing = pais("gallery", "remove", "dve")
    assert missing.exit_code == 1 and "no gallery named 'dve'" in missing.stderr
    assert pais("gallery", "list", "-o", "json").json()["galleries"] == []  # type: ignore[index]


def test_mixed_flavours_are_pointed_out(tmp_path: Path) -> None:
    assert pais("gallery", "init", "-s", str(tmp_path / "dev"), "--name", "dev", "--flavor", "cnai").exit_code == 0
    prod = pais("gallery", "init", "-s", str(tmp_path / "prod"), "--name", "prod")
    assert prod.exit_code == 0 and "--convert-flavor" in prod.stderr


def test_a_folder_without_weights_is_refused_in_one_line(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "README.md").write_text("# not a model\n")
    (notes / "notes.txt").write_text("remember the milk\n")
    for args in (["models", "validate", str(notes)], ["models", "push", str(notes), "-m", "a/b:v1", "-s", str(tmp_path / "g")],
                 ["models", "push", str(notes), "-m", "a/b:v1", "-s", str(tmp_path / "g"), "--skip-validation"]):
        result = pais(*args)
        assert result.exit_code == 1
        errors = [line for line in result.stderr.splitlines() if line.startswith(("error:", "hint:"))]
        assert len(errors) == 2 and "no model weights" in errors[0] and "--allow-no-weights" in errors[1]
    tok = pais("models", "validate", str(notes), "--allow-no-weights", "-o", "json")
    assert tok.exit_code == 0, tok.stderr
    assert tok.json()["allowed"]["noWeights"] is True  # type: ignore[index]


def test_not_found_says_which_part_and_what_is_close(tiny_model: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "g")
    assert pais("models", "push", str(tiny_model), "-m", "acme/tiny:v1", "-s", store).exit_code == 0
    model = pais("models", "pull", "acme/tiyn:v1", "-s", store)
    assert model.exit_code == 1 and "no model acme/tiyn" in model.stderr and "did you mean acme/tiny" in model.stderr
    tag = pais("models", "pull", "acme/tiny:v2", "-s", store)
    assert tag.exit_code == 1 and "has no tag v2" in tag.stderr and "v1" in tag.stderr


def test_validation_failure_in_json_mode_is_json_on_stderr_only(tiny_model: Path, tmp_path: Path) -> None:
    eicar = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    (tiny_model / "eicar.com").write_bytes(eicar)
    result = pais("models", "push", str(tiny_model), "-m", "a/b:v1", "-s", str(tmp_path / "g"), "-o", "json")
    assert result.exit_code == 1 and result.stdout == ""
    error = json.loads(result.stderr.strip().splitlines()[-1])
    assert error["report"]["verdict"] == "fail" and "--skip" not in (error["hint"] or "")


def test_pipes_get_full_digests_and_tab_separated_fields(tiny_model: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "g")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    run = [sys.executable, "-m", "pais_cli"]
    pushed = subprocess.run([*run, "models", "push", str(tiny_model), "-m", "a/b:v1", "-s", store],
                            capture_output=True, text=True, env=env, timeout=120)
    assert pushed.returncode == 0, pushed.stderr
    fields = dict(line.split("\t", 1) for line in pushed.stdout.splitlines())
    assert len(fields["digest"]) == len("sha256:") + 64
    listed = subprocess.run([*run, "models", "list", "-s", store], capture_output=True, text=True, env=env, timeout=120)
    assert listed.stdout.splitlines()[1].split("\t")[1] == fields["digest"]
    quiet = subprocess.run([*run, "models", "list", "-s", store, "-q"], capture_output=True, text=True, env=env, timeout=120)
    assert quiet.stderr == "" and quiet.stdout == listed.stdout


def test_control_characters_in_a_message_are_shown_not_obeyed(capsys: pytest.CaptureFixture[str]) -> None:
    """An error quotes what a registry said; an escape sequence in it (a hostile registry
    clearing the screen or hiding text) reaches the terminal as visible text."""
    with pytest.raises(typer.Exit):
        Output(OutputFormat.table, debug=False).fail(RegistryError("r.example answered: \x1b[2Jgone\x07", "look\x1b]0;x\x07"))
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert "error: r.example answered: \\x1b[2Jgone\\x07\nhint: look\\x1b]0;x\\x07\n" == err


def test_the_cli_process_freezes_what_start_up_built_and_collects_again() -> None:
    """app.main turns the collector off for start-up; a command's body turns it back on, with
    start-up's objects frozen (never scanned again: 7 ms of start-up and 16 ms of exit saved)."""
    gc.disable()
    frozen = gc.get_freeze_count()
    try:
        with command(OutputFormat.json, False):
            assert gc.isenabled() and gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.enable()


def test_a_library_caller_keeps_its_collector_as_it_was() -> None:
    frozen = gc.get_freeze_count()
    with command(OutputFormat.json, False):
        assert gc.isenabled() and gc.get_freeze_count() == frozen
