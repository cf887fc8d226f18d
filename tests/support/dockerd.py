"""A real Docker Engine (Debian `docker.io`'s dockerd) for the container sandbox tests, and the
test engine image (llama.cpp's server, via llama-cpp-python) loaded into it.

The daemon runs as root on a unix socket in a short temporary directory, with its own data root,
exec root, pid file, empty config file and containerd namespaces, and no bridge, iptables or IP
forwarding (what works on these machines, shared/NOTES.md). Nothing is pulled: the engine image
comes from the tarball scripts/build-engine-image.sh builds once and caches, through `docker load`.

    daemon = start_dockerd()          # daemon.host == "unix:///tmp/pdXXXX/d.sock"
    tag = load_engine_image(daemon)   # "pais-test/llamacpp-server:<version>"
    daemon.stop()

Test modules use the session fixtures below by importing them (`dockerd_fixture`,
`engine_image_fixture`, registered as `dockerd` and `engine_image`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-engine-image.sh"
_STARTUP_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 20.0
_BUILD_TIMEOUT_S = 1800.0  # the first build may compile llama-cpp-python (about 6 min on 2 cores)
_MAKE_TEST = "run `make test` (scripts/install-test-deps.sh installs docker.io and debootstrap)"


class DockerdUnavailable(RuntimeError):
    pass


def dockerd_bin() -> str:
    path = os.environ.get("PAIS_TEST_DOCKERD_BIN") or shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not os.access(path, os.X_OK):
        raise DockerdUnavailable(f"dockerd is not installed: {_MAKE_TEST}")
    if os.geteuid() != 0:
        raise DockerdUnavailable("the tests start their own dockerd, which needs root")
    return path


@dataclass(eq=False)  # hashed by identity, for the registry of running daemons
class DockerDaemon:
    directory: Path
    socket: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def client(self, timeout: int = 120):  # -> docker.DockerClient
        import docker

        return docker.DockerClient(base_url=self.host, timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _running.discard(self)
        data = self.directory / "data"
        if data.is_symlink():
            shutil.rmtree(data.resolve(), ignore_errors=True)
        shutil.rmtree(self.directory, ignore_errors=True)


_running: weakref.WeakSet[DockerDaemon] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for daemon in list(_running):
        daemon.stop()


def _data_root(directory: Path) -> Path:
    """On tmpfs (/dev/shm) when there is one: removing an unpacked image from this machine's disk
    took 20 s (ext4 after writeback), from tmpfs no time. PAIS_TEST_DOCKERD_DATA overrides."""
    base = os.environ.get("PAIS_TEST_DOCKERD_DATA")
    if base is None and os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        base = "/dev/shm"
    if base is None:
        return directory / "data"
    data = Path(tempfile.mkdtemp(prefix="pais-dockerd-", dir=base))
    (directory / "data").symlink_to(data)  # removed with the daemon's directory
    return data


def start_dockerd() -> DockerDaemon:
    """A dockerd on its own unix socket, answering ping. Its directory is short-named under /tmp:
    unix socket paths (containerd's, under the exec root) are limited to about 100 bytes."""
    binary = dockerd_bin()
    directory = Path(tempfile.mkdtemp(prefix="pd", dir="/tmp"))
    sock = directory / "d.sock"
    log = directory / "dockerd.log"
    config = directory / "daemon.json"
    config.write_text("{}\n")  # not /etc/docker/daemon.json: this daemon is the tests' alone
    namespace = f"pais-test-{os.getpid()}"
    data = _data_root(directory)
    cmd = [binary, "--config-file", str(config), "--data-root", str(data),
           "--exec-root", str(directory / "x"), "--host", f"unix://{sock}", "--pidfile", str(directory / "d.pid"),
           "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-forward=false", "--ip-masq=false",
           "--storage-driver=overlay2", "--containerd-namespace", namespace,
           "--containerd-plugins-namespace", f"{namespace}-plugins"]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    daemon = DockerDaemon(directory, sock, log, process)
    _running.add(daemon)
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        daemon.stop()
        raise DockerdUnavailable(f"the docker Python SDK is not installed: {_MAKE_TEST}") from None

    while True:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            daemon.stop()
            raise DockerdUnavailable(f"dockerd exited with {process.returncode} while starting:\n{tail}")
        if sock.exists():
            try:
                client = docker.DockerClient(base_url=daemon.host, timeout=5)
                ok = client.ping()
                client.close()
                if ok:
                    return daemon
            except (DockerException, OSError):
                pass
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            daemon.stop()
            raise DockerdUnavailable(f"dockerd did not answer ping within {_STARTUP_TIMEOUT_S:.0f} s:\n{tail}")
        time.sleep(0.05)


def engine_image_tarball() -> Path:
    """The cached test engine image tarball, built by scripts/build-engine-image.sh on first use."""
    try:
        done = subprocess.run(["bash", str(BUILD_SCRIPT), "--print-path"], cwd=REPO, capture_output=True,
                              text=True, timeout=_BUILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise DockerdUnavailable(f"scripts/build-engine-image.sh ran past {_BUILD_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        raise DockerdUnavailable(f"scripts/build-engine-image.sh failed ({_MAKE_TEST}):\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def load_engine_image(daemon: DockerDaemon) -> str:
    """`docker load` the test engine image into the daemon; returns its tag."""
    tarball = engine_image_tarball()
    client = daemon.client(timeout=300)
    try:
        with tarball.open("rb") as f:
            images = client.images.load(f)
    finally:
        client.close()
    tags = [tag for image in images for tag in image.tags]
    if not tags:
        raise DockerdUnavailable(f"{tarball} loaded no tagged image")
    return tags[0]


@pytest.fixture(scope="session", name="dockerd")
def dockerd_fixture() -> Iterator[DockerDaemon]:
    try:
        daemon = start_dockerd()
    except DockerdUnavailable as exc:
        pytest.fail(str(exc))
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session", name="engine_image")
def engine_image_fixture(dockerd: DockerDaemon) -> str:
    try:
        return load_engine_image(dockerd)
    except DockerdUnavailable as exc:
        pytest.fail(str(exc))
