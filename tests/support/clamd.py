"""Start real clamd daemons (Debian `clamav-daemon`) for tests, with the test signature database.

Each daemon runs in the foreground with its own config, database copy, socket and pid file in a
temporary directory; no freshclam, no network. `start_clamd` works from fixtures and from scripts:

    server = start_clamd(tmp_path, limits="2M")
    ...  # server.address == "unix:///.../clamd.sock"
    server.stop()

Test modules use the session fixtures below by importing them (`*_fixture`, registered under
the names without the suffix). `forget_config=True` deletes the config once clamd runs, so pais cannot read its limits and must
calibrate, as it does for a clamd on another machine.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import clamd as clamd_pkg  # an independent client for the readiness PING
import pytest

TEST_DB = Path(__file__).resolve().parent.parent / "data" / "clamav"
_STARTUP_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = 5.0


def clamd_bin() -> str:
    path = os.environ.get("PAIS_TEST_CLAMD_BIN") or shutil.which("clamd") or "/usr/sbin/clamd"
    if not os.access(path, os.X_OK):
        raise RuntimeError("clamd is not installed: run `make test` "
                           "(scripts/install-test-deps.sh installs clamav-daemon)")
    return path


@dataclass(eq=False)  # hashed by identity, for the registry of running daemons
class ClamdServer:
    directory: Path
    conf: Path
    socket: Path
    log: Path
    process: subprocess.Popen[bytes]
    tcp_port: int | None = None

    @property
    def address(self) -> str:
        return f"unix://{self.socket}"

    @property
    def tcp_address(self) -> str:
        assert self.tcp_port is not None
        return f"tcp://127.0.0.1:{self.tcp_port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_running: weakref.WeakSet[ClamdServer] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop()


def start_clamd(directory: Path, *, db: Path | dict[str, str] = TEST_DB, limits: str | dict[str, str] | None = None,
                options: dict[str, str] | None = None, tcp_port: int | None = None,
                forget_config: bool = False) -> ClamdServer:
    """A foreground clamd on a unix socket (and 127.0.0.1:tcp_port), ready for PING.

    db: a directory of signature files to copy, or {file name: content}. limits: one size for
    StreamMaxLength, MaxFileSize and MaxScanSize, or a dict of options."""
    binary = clamd_bin()
    directory.mkdir(parents=True, exist_ok=True)
    db_dir = directory / "db"
    if isinstance(db, dict):
        db_dir.mkdir()
        for name, content in db.items():
            (db_dir / name).write_text(content)
    else:
        shutil.copytree(db, db_dir)
    conf = directory / "clamd.conf"
    sock = directory / "clamd.sock"
    log = directory / "clamd.log"
    settings: dict[str, str] = {
        "Foreground": "yes",
        "DatabaseDirectory": str(db_dir),
        "LocalSocket": str(sock),
        "PidFile": str(directory / "clamd.pid"),
        "LogFile": str(log),
        "SelfCheck": "0",
        "MaxThreads": "4",
    }
    if os.geteuid() == 0:
        settings["User"] = "root"  # clamd drops to User when started as root; stay root to read the temp dir
    if tcp_port is not None:
        settings |= {"TCPSocket": str(tcp_port), "TCPAddr": "127.0.0.1"}
    if isinstance(limits, str):
        settings |= {k: limits for k in ("StreamMaxLength", "MaxFileSize", "MaxScanSize")}
    elif limits:
        settings |= limits
    settings |= options or {}
    conf.write_text("".join(f"{k} {v}\n" for k, v in settings.items()))
    process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               cwd=directory)
    server = ClamdServer(directory, conf, sock, log, process, tcp_port)
    _running.add(server)
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while True:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"clamd exited with {process.returncode} while starting:\n{err}\n{tail}")
        try:
            if sock.exists() and clamd_pkg.ClamdUnixSocket(str(sock), timeout=1).ping() == "PONG":
                break
        except clamd_pkg.ClamdError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"clamd did not answer PING within {_STARTUP_TIMEOUT_S:.0f} s; see {log}")
        time.sleep(0.02)
    if forget_config:
        conf.unlink()
    return server


def _serve(tmp_path_factory: pytest.TempPathFactory, name: str, **kwargs: object) -> Iterator[ClamdServer]:
    try:
        server = start_clamd(tmp_path_factory.mktemp(name), **kwargs)  # type: ignore[arg-type]
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="session", name="clamd_normal")
def clamd_normal_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdServer]:
    """EICAR-detecting test database, 16 MiB limits, also on a TCP port."""
    from tests.support.registry import free_port

    yield from _serve(tmp_path_factory, "clamd-normal", limits="16M", tcp_port=free_port())


@pytest.fixture(scope="session", name="clamd_tiny")
def clamd_tiny_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdServer]:
    """Small limits: streams past 4 MiB are refused, and past 2 MiB answered OK WITHOUT scanning."""
    yield from _serve(tmp_path_factory, "clamd-tiny",
                      limits={"StreamMaxLength": "4M", "MaxFileSize": "2M", "MaxScanSize": "2M"})


@pytest.fixture(scope="session", name="clamd_tiny_unknown")
def clamd_tiny_unknown_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdServer]:
    """Like clamd_tiny, but its config is gone: its limits must be calibrated."""
    yield from _serve(tmp_path_factory, "clamd-tiny-unknown", forget_config=True,
                      limits={"StreamMaxLength": "4M", "MaxFileSize": "2M", "MaxScanSize": "2M"})


@pytest.fixture(scope="session", name="clamd_blind")
def clamd_blind_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdServer]:
    """A database with no EICAR signature and an unreadable config: no window can be established."""
    yield from _serve(tmp_path_factory, "clamd-blind", forget_config=True, limits="2M",
                      db={"other.ndb": "Test.Other.NDB:0:*:70616973207465737420736967206e6f7420656963617221\n"})
