"""Code and binaries in a model: native executables and libraries, shell scripts, `.pth` files
that Python's `site` would execute, and install files that fetch from other indexes or git.

None of these is needed to serve weights. A loader, a custom-op registration or an engine that
`pip install`s a model's requirements runs them with the server's rights. Each fails unless the
user vouches for the file with `--allow-code PATH` (recorded in the report); `.py` files and
`auto_map` stay under `--allow-remote-code` (the format check's remote-code rule).
"""

from __future__ import annotations

import fnmatch
import re
import struct
from dataclasses import dataclass
from pathlib import PurePosixPath

from .report import Finding, Severity

HEAD_BYTES = 4096
SHARED_LIBRARY = re.compile(r"\.(so(\.\d+)*|dylib|dll|pyd|exe|bundle)$", re.IGNORECASE)
SCRIPT_SUFFIXES = {".sh", ".bash", ".zsh", ".ksh", ".csh", ".fish", ".bat", ".cmd", ".ps1", ".psm1", ".vbs"}
MACHO_MAGICS = {b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"}
# pip options and requirement forms that fetch from somewhere other than the configured index
FETCH = re.compile(r"(^|\s)(-i|--index-url|--extra-index-url|-f|--find-links|--trusted-host|-e|--editable)(\s|=|$)"
                   r"|\b(git|hg|svn|bzr)\+|\bhttps?://|\bfile:", re.IGNORECASE)
SETUP_FETCH = re.compile(r"dependency_links|index_url|--index-url|--extra-index-url|\b(git|hg|svn|bzr)\+|https?://[^\s'\"]*\.(whl|tar\.gz|zip)",
                         re.IGNORECASE)
HINT = "remove it from the model; if it must ship and you reviewed it, pass --allow-code {path}"


@dataclass(frozen=True)
class AllowCode:
    """Paths the user vouched for: exact paths, directories (`dir/`) or glob patterns."""

    patterns: tuple[str, ...] = ()

    def allows(self, path: str) -> bool:
        for pattern in self.patterns:
            p = pattern.strip()
            p = p[2:] if p.startswith("./") else p
            if path == p or path.startswith(p.rstrip("/") + "/") or fnmatch.fnmatchcase(path, p):
                return True
        return False


def binary_kind(head: bytes) -> str | None:
    if head.startswith(b"\x7fELF"):
        return "an ELF executable or shared library"
    if head[:4] in MACHO_MAGICS:
        return "a Mach-O binary" if head[:4] != b"\xca\xfe\xba\xbe" else "a Mach-O universal binary or Java class"
    if head.startswith(b"MZ") and len(head) >= 0x40:
        (offset,) = struct.unpack("<I", head[0x3C:0x40])
        if offset + 4 <= len(head) and head[offset:offset + 4] == b"PE\x00\x00":
            return "a Windows PE executable or DLL"
    if head.startswith(b"\x00asm"):
        return "a WebAssembly module"
    return None


def _text_lines(data: bytes) -> list[str] | None:
    if b"\x00" in data[:HEAD_BYTES]:
        return None
    return data.decode("utf-8", "replace").splitlines()


def code_problem(path: str, head: bytes, data: bytes | None) -> tuple[str, str] | None:
    """(rule, why) for a file that is code or a binary; `data` is the whole file when small (text checks)."""
    name = PurePosixPath(path).name.lower()
    suffix = PurePosixPath(path).suffix.lower()
    kind = binary_kind(head)
    if kind is not None:
        return "format.native-code", f"{kind}: native code runs with the server's rights when anything loads it"
    if SHARED_LIBRARY.search(name):
        return "format.native-code", "named as a shared library or executable"
    if head.startswith(b"#!") or suffix in SCRIPT_SUFFIXES:
        return "format.script", "a script (shebang or shell extension) in the model"
    if suffix == ".pth" and data is not None and not head.startswith((b"PK", b"\x80")):
        lines = _text_lines(data)
        if lines is not None and any(re.match(r"import[ \t]", line) for line in lines):
            return "format.pth-import", "a .pth file with an 'import' line: Python's site module executes it at startup"
    if data is not None and (name.startswith("requirements") and suffix in (".txt", ".in")):
        lines = _text_lines(data) or []
        bad = [line.strip() for line in lines if FETCH.search(line.split("#", 1)[0])]
        if bad:
            return "format.requirements-source", f"requirements fetch from another index, a URL or a VCS: {bad[0][:120]!r}"
    if data is not None and name == "setup.py":
        match = SETUP_FETCH.search(data.decode("utf-8", "replace"))
        if match:
            return "format.requirements-source", f"setup.py fetches from another index, a URL or a VCS ({match.group(0)[:80]!r})"
    return None


def code_finding(path: str, head: bytes, data: bytes | None, allow: AllowCode, shown_as: str | None = None) -> Finding | None:
    """A finding for a code or binary file (`shown_as` names an archive member: file!member)."""
    problem = code_problem(path, head, data)
    if problem is None:
        return None
    rule, why = problem
    label = shown_as or path
    if allow.allows(label if shown_as is None else label.split("!", 1)[0]):
        return Finding(rule, Severity.info, f"{why}; allowed with --allow-code", label)
    where = f"{shown_as}: " if shown_as else ""
    return Finding(rule, Severity.error, f"{where}{why}", label if shown_as is None else label.split("!", 1)[0],
                   HINT.format(path=label.split("!", 1)[0]))
