"""Help that teaches: every command at 80 columns shows every option name whole and an example;
-h works everywhere; shell completion scripts exist and bash's machinery completes with them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pais_cli.cli.app import COMMANDS, app, load_command
from tests.conftest import pais


def _commands() -> list[list[str]]:
    out = []
    for name, (_, sub, _) in COMMANDS.items():
        command = load_command(name)
        assert command is not None
        if sub is None:
            out += [[name, child] for child in command.list_commands(None)]  # type: ignore[attr-defined, arg-type]
        else:
            out.append([name])
    return out


ALL = _commands()


def test_every_command_is_listed() -> None:
    names = {" ".join(c) for c in ALL}
    assert {"models push", "models pull", "gallery list", "gallery remove", "login", "logout", "completion"} <= names


@pytest.mark.parametrize("path", ALL, ids=[" ".join(c) for c in ALL])
def test_help_at_80_columns_has_whole_option_names_and_an_example(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "-h"], terminal_width=80)
    assert result.exit_code == 0, result.output
    text = result.stdout
    command = load_command(path[0])
    for part in path[1:]:
        command = command.get_command(None, part)  # type: ignore[union-attr, arg-type]
    assert command is not None
    words = set(text.replace(",", " ").split())
    for param in command.params:
        for opt in (*param.opts, *param.secondary_opts):
            if opt.startswith("-"):
                assert opt in words, f"{opt} is cut or missing in `pais {' '.join(path)} -h`"
    assert "Examples:" in text and f"pais {' '.join(path)}" in text.split("Examples:")[1]
    assert all(len(line) <= 80 for line in text.splitlines()), "a line is wider than 80 columns"
    assert "<str>" not in text and "<bool>" not in text and "list[" not in text


def test_usage_error_is_one_line_and_a_hint() -> None:
    result = pais("models", "push", "--no-such-option")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    assert "pais models push -h" in lines[1]


def test_usage_error_in_json_mode_is_json_on_stderr() -> None:
    import json

    result = pais("models", "list", "-o", "json", "--bogus")
    assert result.exit_code == 2 and result.stdout == ""
    assert json.loads(result.stderr)["exit_code"] == 2


def _pais_on_path(tmp_path: Path) -> dict[str, str]:
    """An environment whose `pais` runs this checkout (PYTHONPATH), as the completion script calls it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pais").write_text(f"#!/bin/sh\nexec {sys.executable} -m pais_cli \"$@\"\n")
    (bin_dir / "pais").chmod(0o755)
    root = str(Path(__file__).resolve().parent.parent)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_generated(shell: str) -> None:
    result = pais("completion", shell)
    assert result.exit_code == 0 and "_PAIS_COMPLETE" in result.stdout


def _bash_complete(env: dict[str, str], script: Path, words: list[str]) -> list[str]:
    """Run the generated completion function as bash would on <TAB>: COMP_WORDS, COMP_CWORD."""
    quoted = " ".join(f"'{w}'" for w in words)
    program = (f"source {script}\nCOMP_WORDS=({quoted})\nCOMP_CWORD={len(words) - 1}\n"
               "_pais_completion pais\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    done = subprocess.run(["bash", "--norc", "-c", program], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_commands_options_galleries_models_and_tags(tmp_path: Path, tiny_model: Path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    env = _pais_on_path(tmp_path)
    script = tmp_path / "pais.bash"
    script.write_text(pais("completion", "bash").stdout)
    assert _bash_complete(env, script, ["pais", "mo"]) == ["models"]
    assert set(_bash_complete(env, script, ["pais", "models", "p"])) == {"push", "pull", "promote"}
    assert "--modelStore" in _bash_complete(env, script, ["pais", "models", "pull", "--model"])
    gallery = tmp_path / "g"
    assert pais("gallery", "init", "-s", str(gallery), "--name", "dev").exit_code == 0
    assert pais("gallery", "init", "-s", str(tmp_path / "d2"), "--name", "demo").exit_code == 0
    assert set(_bash_complete(env, script, ["pais", "models", "list", "--modelStore", "de"])) == {"dev", "demo"}
    assert pais("models", "push", str(tiny_model), "-m", "acme/tiny:v1", "-s", "dev").exit_code == 0
    assert pais("models", "push", str(tiny_model), "-m", "acme/tiny:v2", "-s", "dev").exit_code == 0
    assert _bash_complete(env, script, ["pais", "models", "pull", "-s", "dev", "-m", "ac"]) == ["acme/tiny"]
    assert set(_bash_complete(env, script, ["pais", "models", "pull", "-s", "dev", "-m", "acme/tiny", "-t", "v"])) == {"v1", "v2"}
