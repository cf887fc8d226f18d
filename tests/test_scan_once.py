"""Scan each byte once, and ClamAV that scales out, counted by what real clamd daemons scanned:
each test daemon runs with its own cache off (`DisableCache yes`, which would hide a rescan) and
logs every clean stream (`LogClean yes`), so its log says how many windows it was sent."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pais_cli.cli.settings import context
from pais_cli.validation import clamav
from pais_cli.validation.clamav import EICAR, MiB
from pais_cli.validation.malware import MalwareOptions, check_malware
from pais_cli.validation.report import Status
from pais_cli.validation.resultcache import ResultCache
from tests.conftest import pais
from tests.support.clamd import ClamdServer, start_clamd
from tests.support.models import write_tiny_model
from tests.test_malware import model_of, write_bytes

LIMIT = "2M"
WINDOW = 2 * MiB - 2 * MiB // 16
COUNTING = {"DisableCache": "yes", "LogClean": "yes", "MaxThreads": "1"}


def _daemon(tmp_path_factory: pytest.TempPathFactory, name: str, **kwargs: object) -> Iterator[ClamdServer]:
    server = start_clamd(tmp_path_factory.mktemp(name), limits=LIMIT, options=COUNTING, **kwargs)  # type: ignore[arg-type]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def counting_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdServer]:
    yield from _daemon(tmp_path_factory, "clamd-count-a")


@pytest.fixture(scope="module")
def counting_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdServer]:
    yield from _daemon(tmp_path_factory, "clamd-count-b")


@pytest.fixture(autouse=True)
def _fresh_windows() -> None:
    clamav.clear_window_cache()


def clean_scans(server: ClamdServer) -> int:
    """Streams this daemon scanned and found clean (the canary probes come back FOUND). clamd
    logs a scan just after it replies: read until the count holds still."""
    last, stable_since = -1, time.monotonic()
    while True:
        count = len(re.findall(r"^instream\(.*\): OK$", server.log.read_text(errors="replace"), re.M))
        if count != last:
            last, stable_since = count, time.monotonic()
        elif time.monotonic() - stable_since > 0.15:
            return count
        time.sleep(0.03)


def big_model(root: Path) -> Path:
    write_tiny_model(root)
    write_bytes(root / "extra-00001.bin", 5 * MiB, seed=11)  # four overlapping windows each
    write_bytes(root / "extra-00002.bin", 5 * MiB, seed=12)
    return root


def windows_of(root: Path) -> int:
    sizes = [p.stat().st_size for p in root.rglob("*") if p.is_file()]
    return sum(len(clamav.plan_windows(s, WINDOW, clamav.overlap_for(WINDOW))) for s in sizes)


def test_validate_then_push_scans_nothing_again(tmp_path: Path, counting_a: ClamdServer) -> None:
    model = big_model(tmp_path / "m")
    before = clean_scans(counting_a)
    first = pais("models", "validate", str(model), "--clamd", counting_a.address, "-o", "json")
    assert first.exit_code == 0, first.stderr
    assert clean_scans(counting_a) - before == windows_of(model)
    assert json.loads(first.stdout)["checks"][1]["details"]["from_cache"] == []

    before = clean_scans(counting_a)
    push = pais("models", "push", str(model), "-s", str(tmp_path / "g"), "--modelName", "t/m", "-t", "v1",
                "--clamd", counting_a.address, "-o", "json")
    assert push.exit_code == 0, push.stderr
    assert clean_scans(counting_a) == before  # clamd was sent nothing
    checks = {c["name"]: c for c in push.json()["report"]["checks"]}  # type: ignore[index]
    assert checks["malware"]["status"] == "pass"
    assert checks["malware"]["details"]["from_cache"] == sorted(p.name for p in model.iterdir())
    assert checks["malware"]["details"]["bytes_scanned"] == checks["malware"]["details"]["bytes"]
    assert "from the cache" in checks["serialization"]["summary"] and checks["format"]["details"]["from_cache"]

    before = clean_scans(counting_a)
    again = pais("models", "validate", str(model), "--clamd", counting_a.address, "--no-cache", "-o", "json")
    assert again.exit_code == 0 and clean_scans(counting_a) - before == windows_of(model)


def test_a_changed_file_is_the_only_one_scanned_again(tmp_path: Path, counting_a: ClamdServer) -> None:
    model = big_model(tmp_path / "m")
    assert pais("models", "validate", str(model), "--clamd", counting_a.address).exit_code == 0
    write_bytes(model / "extra-00002.bin", 5 * MiB, seed=99)  # a new revision of one shard
    before = clean_scans(counting_a)
    result = pais("models", "validate", str(model), "--clamd", counting_a.address, "-o", "json")
    assert result.exit_code == 0, result.stderr
    shard = len(clamav.plan_windows(5 * MiB, WINDOW, clamav.overlap_for(WINDOW)))
    assert clean_scans(counting_a) - before == shard == 4  # that shard's windows, nothing else
    malware = json.loads(result.stdout)["checks"][1]
    assert "extra-00002.bin" not in malware["details"]["from_cache"]
    assert len(malware["details"]["from_cache"]) == len(list(model.iterdir())) - 1
    # The other per-file content checks judge only that shard again, too.
    others = sorted(p.name for p in model.iterdir() if p.name != "extra-00002.bin")
    for check in json.loads(result.stdout)["checks"][2:4]:
        assert check["name"] in ("serialization", "format") and check["details"]["from_cache"] == others, check
        assert f"{len(others)} file(s) judged before, from the cache" in check["summary"]


def test_per_file_results_from_the_cache_sum_up_as_a_fresh_run(tmp_path: Path) -> None:
    """Serialization and format keep one result per file (by path and digest): a warm run reports
    what a cold one did, file for file; a file with an error is judged again every time."""
    from pais_cli.modeldir.digests import DigestCache
    from pais_cli.modeldir.snapshot import snapshot_directory
    from pais_cli.validation.formatcheck import check_format
    from pais_cli.validation.resultcache import FileResults
    from pais_cli.validation.serialization import check_serialization
    from tests.support import malicious as m

    model = write_tiny_model(tmp_path / "m")
    (model / "pytorch_model.bin").write_bytes(m.torch_zip(m.state_dict_pickle()))
    (model / "evil.pkl").write_bytes(m.os_system_proto0(tmp_path / "marker"))
    snapshot = snapshot_directory(model, DigestCache(), rehash=True)
    cache = ResultCache(tmp_path / "results.sqlite")
    judge = {"rules": "test"}

    def both() -> list[tuple[list[object], dict[str, object]]]:
        runs = [check_serialization(snapshot, known=FileResults(cache, "serialization", snapshot.files, judge)),
                check_format(snapshot, known=FileResults(cache, "format", snapshot.files, judge))]
        return [([f.to_json() for f in r.findings], r.details) for r in runs]

    cold, warm = both(), both()
    every = sorted(f.path for f in snapshot.files)
    # evil.pkl fails serialization (judged again each time); for format it is a pickle-era name
    # beside safetensors, a rule across files, which runs every time.
    judged_before = [[p for p in every if p != "evil.pkl"], every]
    for (cold_findings, cold_details), (warm_findings, warm_details), before in zip(cold, warm, judged_before):
        assert warm_findings == cold_findings and any(f["file"] == "evil.pkl" for f in cold_findings)
        assert cold_details.pop("from_cache") == []
        assert warm_details.pop("from_cache") == before
        assert warm_details == cold_details
    assert cold[0][1]["pickleFiles"] == ["evil.pkl", "pytorch_model.bin"]


def test_a_found_signature_is_remembered_as_found(tmp_path: Path, counting_a: ClamdServer) -> None:
    write_bytes(tmp_path / "m" / "w.bin", 3 * MiB, {MiB: EICAR})
    cache = ResultCache(tmp_path / "results.sqlite")
    options = MalwareOptions(clamd=counting_a.address)
    first = check_malware(fresh(model_of(tmp_path / "m")), options, cache)
    second = check_malware(fresh(model_of(tmp_path / "m")), options, cache)
    assert first.status == second.status == Status.failed
    assert [f.rule for f in second.findings] == ["malware.found"] and second.details["from_cache"] == ["w.bin"]


def test_not_scanned_is_never_cached(tmp_path: Path, counting_a: ClamdServer, monkeypatch: pytest.MonkeyPatch) -> None:
    write_bytes(tmp_path / "m" / "a.bin", MiB, seed=1)
    write_bytes(tmp_path / "m" / "b.bin", MiB, seed=2)
    real = clamav.scan_window

    def lose_b(client, path, index, offset, length, buf, max_scan_time_ms=clamav.DEFAULT_MAX_SCAN_TIME_MS):  # type: ignore[no-untyped-def]
        if path.name == "b.bin":
            return clamav.WindowResult(index, offset, length, None, "clamd dropped the stream", 0.0)
        return real(client, path, index, offset, length, buf, max_scan_time_ms)

    monkeypatch.setattr(clamav, "scan_window", lose_b)
    cache = ResultCache(tmp_path / "results.sqlite")
    options = MalwareOptions(clamd=counting_a.address)
    result = check_malware(fresh(model_of(tmp_path / "m")), options, cache)
    assert [(f.rule, f.file) for f in result.findings] == [("malware.not-scanned", "b.bin")]
    monkeypatch.setattr(clamav, "scan_window", real)
    again = check_malware(fresh(model_of(tmp_path / "m")), options, cache)
    assert again.status == Status.passed and again.details["from_cache"] == ["a.bin"]


def test_cached_results_count_only_for_digests_computed_now(tmp_path: Path, counting_a: ClamdServer) -> None:
    write_bytes(tmp_path / "m" / "a.bin", MiB)
    cache = ResultCache(tmp_path / "results.sqlite")
    options = MalwareOptions(clamd=counting_a.address)
    check_malware(fresh(model_of(tmp_path / "m")), options, cache)
    before = clean_scans(counting_a)
    stale = check_malware(model_of(tmp_path / "m"), options, cache)  # digests not marked fresh
    assert stale.details["from_cache"] == [] and clean_scans(counting_a) - before == 1


def fresh(model):  # type: ignore[no-untyped-def]
    """A snapshot whose digests were computed from the bytes (model_of hashes them)."""
    from dataclasses import replace
    model.files = [replace(f, fresh=True) for f in model.files]
    return model


# ------------------------------------------------------------------ the pool


def test_two_daemons_share_a_large_file_and_leave_no_byte_unscanned(tmp_path: Path, counting_a: ClamdServer,
                                                                     counting_b: ClamdServer) -> None:
    size = 12 * MiB
    write_bytes(tmp_path / "m" / "big.bin", size, {size - 3000: EICAR}, seed=5)
    a, b = clean_scans(counting_a), clean_scans(counting_b)
    result = check_malware(model_of(tmp_path / "m"), MalwareOptions(clamd=[counting_a.address, counting_b.address]))
    windows = len(clamav.plan_windows(size, WINDOW, clamav.overlap_for(WINDOW)))
    used_a, used_b = clean_scans(counting_a) - a, clean_scans(counting_b) - b
    assert used_a >= 1 and used_b >= 1  # both daemons scanned part of the one file
    assert used_a + used_b == windows - 1  # every window once; the last one held the signature
    assert [(f.rule, f.file) for f in result.findings] == [("malware.found", "big.bin")]
    d = result.details
    assert d["bytes_scanned"] == d["bytes"] == size and d["windows"] == windows
    assert [x["jobs"] for x in d["daemons"]] == [1, 1]  # STATS: one thread each


def test_daemons_with_different_databases_are_refused(tmp_path: Path, counting_a: ClamdServer,
                                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    other = start_clamd(tmp_path_factory.mktemp("clamd-other-db"), limits=LIMIT, options=COUNTING,
                        db={"other.ndb": "Test.Other.NDB:0:*:70616973207465737420736967206e6f7420656963617221\n"})
    try:
        write_bytes(tmp_path / "m" / "a.bin", MiB)
        result = check_malware(model_of(tmp_path / "m"), MalwareOptions(clamd=[counting_a.address, other.address]))
    finally:
        other.stop()
    assert result.status == Status.failed
    assert [f.rule for f in result.findings] == ["malware.clamd-pool"]
    assert "signature databases differ" in result.findings[0].message


def test_pais_clamd_takes_a_list(tmp_path: Path, counting_a: ClamdServer, counting_b: ClamdServer,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAIS_CLAMD", f"{counting_a.address}, {counting_b.address}?jobs=1")
    write_tiny_model(tmp_path / "m")
    result = pais("models", "validate", str(tmp_path / "m"), "-o", "json")
    assert result.exit_code == 0, result.stderr
    details = json.loads(result.stdout)["checks"][1]["details"]
    assert [x["clamd"] for x in details["daemons"]] == [counting_a.address, counting_b.address]
    assert details["clamd_from"] == "$PAIS_CLAMD"


# ------------------------------------------------------------------ the cache itself, progress


def test_cache_is_bounded_least_recently_used_first(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "r.sqlite", max_entries=3)
    for key in "abc":
        cache.put("malware", key, {"findings": []})
    assert cache.get("a") is not None  # used: now the newest
    cache.put("malware", "d", {"findings": []})
    assert cache.entries() == 3 and cache.get("b") is None and cache.get("a") is not None


def test_cache_is_shared_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    code = ("import sys; from pathlib import Path; from pais_cli.validation.resultcache import ResultCache\n"
            "c = ResultCache(Path(sys.argv[1]))\n"
            "for i in range(200): c.put('malware', sys.argv[2] + str(i), {'findings': []})\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    writers = [subprocess.Popen([sys.executable, "-c", code, str(path), name], env=env) for name in ("x", "y")]
    assert [w.wait(60) for w in writers] == [0, 0]
    assert ResultCache(path).entries() == 400
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_progress_lines_in_a_log_and_quiet(tmp_path: Path, counting_a: ClamdServer) -> None:
    model = big_model(tmp_path / "m")
    loud = pais("models", "validate", str(model), "--clamd", counting_a.address, "-o", "json")
    assert loud.exit_code == 0
    json.loads(loud.stdout)  # stdout stays clean JSON
    lines = loud.stderr.splitlines()
    assert any(line.startswith("malware: pass (") and "MiB" in line for line in lines), loud.stderr
    assert any(line.startswith("sha256: pass") for line in lines)
    assert any(re.match(r"malware: .* of .* \(\d+%\)", line) for line in lines), loud.stderr
    quiet = pais("models", "validate", str(model), "--clamd", counting_a.address, "-o", "json", "--quiet")
    assert quiet.exit_code == 0 and not any(line.startswith(("malware:", "sha256:")) for line in quiet.stderr.splitlines())


def test_context_names_the_result_cache(tmp_path: Path) -> None:
    assert context().result_cache == Path(os.environ["PAIS_CACHE_DIR"]) / "results.sqlite"


def test_gallery_reports_seed_the_cache_only_when_asked(tmp_path: Path, counting_a: ClamdServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    model = big_model(tmp_path / "m")
    store = str(tmp_path / "g")
    first = pais("models", "push", str(model), "-s", store, "--modelName", "t/m", "-t", "v1", "--clamd", counting_a.address)
    assert first.exit_code == 0, first.stderr
    monkeypatch.setenv("PAIS_CACHE_DIR", str(tmp_path / "another-machine"))  # an empty cache
    before = clean_scans(counting_a)
    plain = pais("models", "push", str(model), "-s", store, "--modelName", "t/m", "-t", "v2", "--clamd",
                 counting_a.address, "--no-cache")
    assert plain.exit_code == 0 and clean_scans(counting_a) - before == windows_of(model)
    before = clean_scans(counting_a)
    trusted = pais("models", "push", str(model), "-s", store, "--modelName", "t/m", "-t", "v3", "--clamd",
                   counting_a.address, "--trust-gallery-reports", "-o", "json")
    assert trusted.exit_code == 0, trusted.stderr
    assert clean_scans(counting_a) == before
    checks = {c["name"]: c for c in trusted.json()["report"]["checks"]}  # type: ignore[index]
    assert len(checks["malware"]["details"]["from_cache"]) == len(list(model.iterdir()))
