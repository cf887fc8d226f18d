"""The README quickstart, run as written: its own command lines, extracted from README.md.

Only what cannot run here changes: the host (a local token-auth registry stands in for Harbor),
the Hugging Face endpoint (the tests' local Hub, through HF_ENDPOINT), and the password, which
`pais login` reads from stdin instead of a prompt."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pais_cli.cli.app import app
from tests.conftest import Run, check_json_output, pais
from tests.support.hub import FakeHub
from tests.support.models import write_embedding_model
from tests.support.registry import RegistryServer

README = Path(__file__).resolve().parent.parent / "README.md"
QUICKSTART_HOST = "harbor.example.com"


def quickstart_commands() -> list[str]:
    """The indented command lines of the Quickstart section, continuations joined, comments dropped."""
    text = README.read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = "\n".join(line[4:] for line in section.splitlines() if line.startswith("    "))
    block = block.replace("\\\n", " ")
    return [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_the_quickstart_is_all_pais_commands() -> None:
    commands = quickstart_commands()
    assert all(c.startswith("pais ") for c in commands)
    assert {c.split()[1] for c in commands} >= {"login", "gallery", "models", "endpoints"}
    # The flavour mix-up: either both galleries name a flavour or neither does.
    inits = [c for c in commands if c.startswith("pais gallery init")]
    assert len({"--flavor" in c for c in inits}) == 1


def test_readme_quickstart_runs(token_registry: RegistryServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeHub() as hub:
        model = write_embedding_model(tmp_path / "src")
        files = {p.relative_to(model).as_posix(): p.read_bytes() for p in sorted(model.rglob("*")) if p.is_file()}
        hub.commit("BAAI/bge-small-en-v1.5", files)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        work = tmp_path / "work"
        work.mkdir()
        monkeypatch.chdir(work)
        for line in quickstart_commands():
            args = shlex.split(line.replace(QUICKSTART_HOST, token_registry.host))[1:]
            if args[0] == "login":
                assert "--password-stdin" not in args  # the README prompts; the test pipes the account in
                account = ["-u", token_registry.username or ""] if "-u" in args else []
                if account:
                    del args[args.index("-u"):args.index("-u") + 2]
                result = CliRunner().invoke(app, [*args, *account, "--password-stdin"], input=f"{token_registry.password}\n")
                run = Run(result.exit_code, result.stdout, result.stderr)
            else:
                run = pais(*args)
            assert run.exit_code == 0, f"{line}\n{run.stderr}"
            check_json_output(tuple(args), run)
        deployed = list((work / "deploy").glob("*.yaml"))
        assert deployed and "sha256:" in deployed[0].read_text()
        listed = pais("models", "list", "--modelStore", "prod", "-o", "json").json()
        assert [r["tags"] for r in listed] == [["prod"]] and listed[0]["validated"]  # type: ignore[index]
        assert re.search(r"validated", pais("models", "list", "--modelStore", "dev").stdout)
