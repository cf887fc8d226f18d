"""The architecture, checked rather than hoped for: the import-linter contracts in pyproject.toml
hold, only the CLI's settings module reads the environment, and no module reaches into another
object's private members or asks a store what class it is outside that store's own module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pais_cli"
SETTINGS = PACKAGE / "cli" / "settings.py"
STORE_CLASSES = {"RegistryGallery", "RegistryRepository", "LayoutGallery", "LayoutRepository", "DirectoryTarget",
                 "PackedSource", "RegistryClient"}
# The zip reader pokes at zipfile's private members on purpose (see formats/pickles.py), and the
# smoke runner reads llama.cpp's context inside the sandbox: neither is an object of ours.
PRIVATE_ACCESS_ALLOWED = {"formats/pickles.py", "smoke/runner.py"}


def sources() -> list[tuple[str, ast.Module]]:
    return [(p.relative_to(PACKAGE).as_posix(), ast.parse(p.read_text(), str(p))) for p in sorted(PACKAGE.rglob("*.py"))]


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


def test_only_the_settings_module_reads_the_environment() -> None:
    found = []
    for rel, tree in sources():
        if rel == "cli/settings.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb") \
                    and isinstance(node.value, ast.Name) and node.value.id == "os":
                found.append(f"{rel}:{node.lineno}")
    assert found == [], f"environment read outside cli/settings.py: {found}"


def test_no_private_member_access_across_objects() -> None:
    found = []
    for rel, tree in sources():
        if rel in PRIVATE_ACCESS_ALLOWED:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                    found.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
    assert found == []


@pytest.mark.parametrize("name", sorted(STORE_CLASSES))
def test_store_classes_are_asked_of_nowhere_but_their_own_module(name: str) -> None:
    """isinstance(x, RegistryGallery) or getattr(store, "client") outside gallery/stores/ would
    mean a caller works around the store roles instead of asking a role."""
    found = []
    for rel, tree in sources():
        if rel.startswith("gallery/stores/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("isinstance", "getattr"):
                text = ast.unparse(node)
                if name in text or (node.func.id == "getattr" and "'client'" in text):
                    found.append(f"{rel}:{node.lineno} {text}")
    assert found == []
