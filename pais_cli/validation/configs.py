"""Templates and pipeline configs: what a loader imports or renders because a JSON file says so.

* Chat templates (a string, the list-of-named-templates form, `chat_template.jinja` and other
  `.jinja` files) are Jinja; a template that reaches for Python objects is a template injection
  (CVE-2024-34359, llama-cpp-python; transformers renders in a sandbox, engines not always).
* `auto_map` and `custom_pipelines` (transformers), non-library components and `custom_pipeline`
  in `model_index.json` (diffusers), module `type`s outside sentence-transformers in `modules.json`,
  and `auto_mapping` in `adapter_config.json` (PEFT imports `parent_library`) all make a loader
  import code named by the model: remote code, allowed only with `--allow-remote-code`.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from typing import Any

from ..formats.safeio import read_prefix
from ..modeldir.snapshot import SnapshotFile
from .report import Finding, Severity

MAX_CONFIG_BYTES = 16 * 1024 * 1024
REMOTE_CODE_HINT = "review the code, then pass --allow-remote-code; transformers runs it with trust_remote_code=True"
TEMPLATE_HINT = "replace the chat template with the model's published template"
# Jinja constructs that reach Python objects: the known llama.cpp / transformers template escapes.
TEMPLATE_CODE = re.compile(
    r"__\w+__|\.mro\b|\bimport\b|\bos\.|\bsubprocess\b|\bpopen\b|\beval\s*\(|\bexec\s*\(|\bgetattr\b|\bself\._|"
    r"\blipsum\b|\bcycler\b|\bjoiner\b|\brequest\.|\bconfig\.__",
    re.IGNORECASE,
)
# Component libraries diffusers imports by name from its own registry (not from the model)
PIPELINE_LIBRARIES = {"diffusers", "transformers", "onnxruntime.training", "peft", None}
PEFT_PARENTS = {"transformers", "peft"}


def template_problem(template: str) -> str | None:
    match = TEMPLATE_CODE.search(template)
    return None if match is None else f"chat template reaches for Python objects ({match.group(0)!r}): a template injection"


def _templates(value: Any) -> list[tuple[str, str]]:
    """(name, template) pairs from a chat_template value: a string or [{"name", "template"}, ...]."""
    if isinstance(value, str):
        return [("default", value)]
    if isinstance(value, list):
        return [(str(t.get("name", i)), t["template"]) for i, t in enumerate(value[:1000])
                if isinstance(t, dict) and isinstance(t.get("template"), str)]
    if isinstance(value, dict):  # some processors store {name: template}
        return [(str(k), v) for k, v in list(value.items())[:1000] if isinstance(v, str)]
    return []


def _remote(path: str, message: str, allow_remote_code: bool) -> Finding:
    return Finding("format.remote-code", Severity.warning if allow_remote_code else Severity.error, message, path,
                   REMOTE_CODE_HINT)


def judge_config(path: str, obj: Any, allow_remote_code: bool) -> list[Finding]:
    """Findings for one parsed JSON config file."""
    if not isinstance(obj, dict):
        return []
    name = PurePosixPath(path).name.lower()
    findings: list[Finding] = []
    if obj.get("auto_map"):
        findings.append(_remote(path, f"auto_map makes transformers import code from the model: {json.dumps(obj['auto_map'])[:200]}",
                                allow_remote_code))
    if obj.get("custom_pipelines"):
        findings.append(_remote(path, f"custom_pipelines makes transformers import pipeline code: "
                                f"{json.dumps(obj['custom_pipelines'])[:200]}", allow_remote_code))
    for label, template in _templates(obj.get("chat_template")):
        if problem := template_problem(template):
            findings.append(Finding("format.chat-template-code", Severity.error, f"{problem} (template {label!r})", path, TEMPLATE_HINT))
    if name == "model_index.json":
        if obj.get("custom_pipeline") or (isinstance(obj.get("_class_name"), list)):
            findings.append(_remote(path, "model_index.json names a custom pipeline that diffusers loads as code", allow_remote_code))
        for key, value in obj.items():
            if key.startswith("_") or not isinstance(value, list) or len(value) != 2:
                continue
            library = value[0]
            if library not in PIPELINE_LIBRARIES and not (isinstance(library, str) and library.split(".")[0] in PIPELINE_LIBRARIES):
                findings.append(_remote(path, f"component {key!r} comes from {library!r}: diffusers imports it, or loads "
                                        "it from the model as custom code", allow_remote_code))
    if name == "adapter_config.json":
        mapping = obj.get("auto_mapping")
        if isinstance(mapping, dict) and mapping.get("parent_library") not in PEFT_PARENTS:
            findings.append(_remote(path, f"auto_mapping makes PEFT import {mapping.get('parent_library')!r}."
                                    f"{mapping.get('base_model_class')!r}", allow_remote_code))
    return findings


def judge_modules(path: str, obj: Any, allow_remote_code: bool) -> list[Finding]:
    """sentence-transformers' modules.json: a list of {"type": "sentence_transformers.models.X", ...}."""
    if not isinstance(obj, list):
        return []
    out = []
    for module in obj[:1000]:
        kind = module.get("type") if isinstance(module, dict) else None
        if isinstance(kind, str) and not kind.startswith("sentence_transformers."):
            out.append(_remote(path, f"module type {kind[:120]!r} is imported by sentence-transformers from outside its "
                               "own package (custom code)", allow_remote_code))
    return out[:20]


def is_config(path: str) -> bool:
    name = PurePosixPath(path).name.lower()
    return name.endswith(".json") and (
        name.endswith("config.json") or name in ("model_index.json", "modules.json", "chat_template.json")
        or name.startswith("tokenizer"))


def check_config_bytes(path: str, raw: bytes, allow_remote_code: bool) -> list[Finding]:
    name = PurePosixPath(path).name.lower()
    if name.endswith(".jinja"):
        problem = template_problem(raw.decode("utf-8", "replace"))
        return [Finding("format.chat-template-code", Severity.error, problem, path, TEMPLATE_HINT)] if problem else []
    try:
        obj = json.loads(raw)
    except RecursionError:
        return [Finding("format.resource-limits", Severity.error, "JSON nested deeper than the parser's bound (about 1000 levels)",
                        path, "no real config nests like this; remove the file")]
    except ValueError:
        # Engines refuse to load a model whose config.json does not parse; other configs are optional.
        severity = Severity.error if path.rsplit("/", 1)[-1] == "config.json" else Severity.warning
        return [Finding("format.json", severity, "config file is not valid JSON", path,
                        "re-export the model's configuration files")]
    if name == "modules.json":
        return judge_modules(path, obj, allow_remote_code)
    return judge_config(path, obj, allow_remote_code)


def check_config_file(entry: SnapshotFile, allow_remote_code: bool) -> list[Finding]:
    if entry.size > MAX_CONFIG_BYTES:
        return [Finding("format.resource-limits", Severity.error,
                        f"config of {entry.size} bytes exceeds the {MAX_CONFIG_BYTES}-byte bound; not read", entry.path,
                        "a model config is a few KB; remove the file")]
    try:
        raw = read_prefix(entry.full, MAX_CONFIG_BYTES)
    except OSError as exc:
        return [Finding("format.json", Severity.warning, f"config file cannot be read: {exc}", entry.path, None)]
    return check_config_bytes(entry.path, raw, allow_remote_code)
