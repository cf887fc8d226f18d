"""The `smoke` check: which engine would serve the model (the same choice `endpoints deploy`
makes), then one load and one inference in a sandbox.

Backends: `container` runs the engine's own image through the Docker Engine API, started as
`endpoints deploy` starts it (runtime.engines.launch; the engine itself is exercised); `local`
runs the reference loader for the format (llama.cpp for GGUF, sentence-transformers for
embeddings, transformers for completion models) in a child process isolated by bubblewrap. `auto` picks container when an engine socket answers and the engine's
image is there, else local. Where nothing can run the model here the check is skipped with the
reason and the command that would make it run; `--require-smoke` turns that into a failure.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PaisError
from ..modeldir.snapshot import DirectorySnapshot
from ..runtime.detect import EMBEDDING, ModelInfo, detect_snapshot
from ..runtime.engines import choose_engine
from ..validation.report import CheckResult, Finding, Severity, Status
from .contract import BackendUnavailable, Loader, SmokeLimits, SmokeOutcome, SmokeRequest

SANDBOXES = ("auto", "container", "local", "none")
TARGETS = ("gpu", "cpu")


@dataclass
class SmokeOptions:
    sandbox: str = "auto"
    target: str | None = None  # None: gpu when this machine has one, else cpu
    require: bool = False
    limits: SmokeLimits = field(default_factory=SmokeLimits)
    docker_host: str | None = None  # the container engine's API address; None: the standard socket
    image: str | None = None  # an engine image instead of the one endpoints deploy would run
    library_path: str | None = None  # LD_LIBRARY_PATH for the local backend's child, as the caller has it


def machine_has_gpu() -> bool:
    return Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None


def _embedding_dim(root: Path) -> int | None:
    """From the model's own config, read as data: sentence-transformers pooling, else hidden size."""
    for rel, key in (("1_Pooling/config.json", "word_embedding_dimension"), ("config.json", "hidden_size")):
        try:
            value = json.loads((root / rel).read_text()).get(key)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, int) and value > 0:
            return value
    return None


def _loader_for(info: ModelInfo) -> Loader | None:
    if info.weight_format == "gguf":
        return "llamacpp"
    if info.weight_format != "safetensors":
        return None  # pickle-era weights are never loaded by the smoke test
    return "sentence-transformers" if info.model_type == EMBEDDING else "transformers"


def _skipped(summary: str, remedy: str, require: bool, details: dict[str, Any]) -> CheckResult:
    if require:
        return CheckResult("smoke", Status.failed, summary, [
            Finding("smoke.not-run", Severity.error, f"the smoke test could not run: {summary}", None, remedy)], details)
    return CheckResult("smoke", Status.skipped, f"{summary}; to run it: {remedy}", [], details)


def _outcome_result(outcome: SmokeOutcome, request: SmokeRequest, details: dict[str, Any]) -> CheckResult:
    details = {**details, **{k: v for k, v in outcome.to_json().items() if k not in ("message", "hint", "passed")}}
    if outcome.engine_exercised:
        exercised = f"the serving engine {request.serving_engine} itself ran ({outcome.loaded_by})"
    elif request.serving_engine == "none":
        exercised = f"{outcome.loaded_by} ran the model; no serving engine fits this target"
    else:
        exercised = f"{outcome.loaded_by} ran the model; the serving engine {request.serving_engine} was not exercised"
    details["exercised"] = exercised
    if outcome.passed:
        shape = "x".join(map(str, outcome.output_shape or [])) or "?"
        load = f"{outcome.load_seconds:.1f}" if outcome.load_seconds is not None else "?"
        return CheckResult("smoke", Status.passed,
                           f"{outcome.backend} sandbox: loaded in {load} s, one {request.kind} gave shape [{shape}]; {exercised}",
                           [], details)
    rule = f"smoke.{outcome.failure or 'failed'}"
    return CheckResult("smoke", Status.failed, f"{outcome.backend} sandbox: {outcome.failure}: {outcome.message}", [
        Finding(rule, Severity.error, outcome.message, request.gguf_file, outcome.hint)], details)


def check_smoke(model: DirectorySnapshot, options: SmokeOptions, allow_remote_code: bool = False) -> CheckResult:
    if options.sandbox not in SANDBOXES:
        raise PaisError(f"unknown sandbox {options.sandbox!r}", f"use one of {', '.join(SANDBOXES)}")
    target = options.target or ("gpu" if machine_has_gpu() else "cpu")
    if options.sandbox == "none":
        return _skipped("--sandbox none", "validate with --sandbox auto, local or container", options.require, {"target": target})
    try:
        info = detect_snapshot(model)
    except PaisError as exc:
        return _skipped(f"cannot tell what the model is: {exc.message}", exc.hint or "", options.require, {"target": target})
    findings: list[Finding] = []
    details: dict[str, Any] = {"target": target, "model_type": info.model_type, "format": info.weight_format,
                               "architecture": info.architecture, "weight_bytes": info.weight_bytes}
    try:
        choice = choose_engine(info, target)
        details["serving_engine"], details["engine_reason"] = choice.engine, choice.reason
        engine = choice.engine
    except PaisError as exc:
        engine = "none"
        details["serving_engine"] = None
        findings.append(Finding("smoke.no-engine", Severity.warning, f"no engine serves this model on {target.upper()}: {exc.message}",
                                None, exc.hint))
    loader = _loader_for(info)
    if loader is None:
        result = _skipped(f"no runtime loads {info.weight_format} weights in a sandbox",
                          "convert the weights to safetensors or GGUF", options.require, details)
        result.findings[:0] = findings
        return result
    request = SmokeRequest(
        model_dir=model.root, kind="embedding" if info.model_type == EMBEDDING else "completion",
        weight_format=info.weight_format,  # type: ignore[arg-type]
        loader=loader, serving_engine=engine,
        expected_dim=_embedding_dim(model.root) if info.model_type == EMBEDDING else None,
        gguf_file=info.gguf_file, limits=options.limits, gpu=target == "gpu", image=options.image,
    )
    outcome, why_not = _run(request, options)
    if outcome is None:
        result = _skipped(why_not[0], why_not[1], options.require, details)
        result.findings[:0] = findings
        return result
    result = _outcome_result(outcome, request, details)
    result.findings[:0] = findings
    if result.status == Status.passed and findings:
        result.status = Status.warn
    return result


def _run(request: SmokeRequest, options: SmokeOptions) -> tuple[SmokeOutcome | None, tuple[str, str]]:
    """Run on the chosen backend; (None, (reason, remedy)) when no backend can run it here."""
    from .container import ContainerSandbox, image_for
    from .local import LocalSandbox

    reasons: list[tuple[str, str]] = []
    if options.sandbox in ("auto", "container"):
        try:
            try:
                image = image_for(request)
            except ValueError as exc:
                raise BackendUnavailable("no serving engine image fits this model on this target",
                                         "name one with --engine-image IMAGE") from exc
            sandbox = ContainerSandbox(options.docker_host)
            if options.sandbox == "auto" and not sandbox.has_image(image):
                raise BackendUnavailable(f"image {image} is not present on the engine", f"docker pull {image}")
            return sandbox.run(request), ("", "")
        except BackendUnavailable as exc:
            if options.sandbox == "container":
                return None, (exc.reason, exc.remedy)
            reasons.append((exc.reason, exc.remedy))
    try:
        return LocalSandbox(library_path=options.library_path).run(request), ("", "")
    except BackendUnavailable as exc:
        reasons.append((exc.reason, exc.remedy))
    return None, ("; ".join(r for r, _ in reasons), " or ".join(m for _, m in reasons))
