"""The `container` sandbox backend: the serving engine's own image runs the model once.

Through the Docker Engine API (the `docker` Python SDK; Docker and Podman sockets alike), pais
runs what endpoints deploy would run: the image, command line and environment come from the
same launcher (`runtime.engines.launch`: vLLM, Infinity, llama.cpp's server; `request.image`
replaces the pinned image), with the model directory bind-mounted READ-ONLY at /model in place
of the pod's volume and the alias `pais-smoke` as the served name, and sends it one
OpenAI-style request.

Network design: the engine container runs with `network_mode="none"`: its network namespace
holds only its own loopback, so the model and the engine can reach nothing, neither this machine
nor anything beyond it. The engine listens on port 8000 of that loopback, and pais talks to it
from INSIDE the container with `exec`: a small HTTP client (the image's `python3` with urllib,
or `curl` where the image has no Python, as llama.cpp's own image) runs in the container's
namespaces, under the container's user, capabilities and limits, and prints the HTTP status,
body and timing. pais never needs a port published or a route into the container. This was
chosen over an `internal=True` bridge network because it needs no bridge or iptables on the
engine's host (the dockerd the tests run has `--bridge=none --iptables=false`), uses only API
calls Podman's Docker-compatible service also serves (network none, exec), and leaves no network
namespace shared with anything else.

Readiness: the engine's health endpoint (llama.cpp, vLLM and Infinity `/health`;
llama-cpp-python's server has none and answers `/v1/models` once the model is loaded) is probed
through exec until it answers 200, while the container's state is watched: an exit before then
is explained (OOM, the engine refusing the model, a crash) from its exit code, `OOMKilled` and
its log. Every wait is bounded by `request.limits.timeout_s` (load plus the one inference).

Confinement: the pod's own (`runtime.hardening.docker_confinement`, the Pod Security
`restricted` settings the Deployment carries): `cap_drop=["ALL"]`, `security_opt=["no-new-privileges"]`,
Docker's default seccomp profile, a non-root user (the model directory's owner when that is not
root, else 65534:65534 "nobody"), a read-only root filesystem with a tmpfs on each path the
launcher says the engine writes (/tmp, where HOME and the caches point), `mem_limit` = `memswap_limit`
(no swap beyond the limit; exit 137 / OOMKilled -> `oom`), `nano_cpus`, `pids_limit`, and a GPU
(`DeviceRequest(capabilities=[["gpu"]])`) only when `request.gpu` (the GPU target, where the
launcher also picks the engine's GPU image and arguments).

Lifecycle: create, start (detached), probe, one request, read the peak memory, kill, read the
logs, and ALWAYS remove the container (`finally`), whatever happened. Logs are read from the
stopped container, not through `run(remove=True)`, which truncated them with Podman. The peak
memory is the container cgroup's high-water mark (cgroup v2 `memory.peak`, v1
`memory.max_usage_in_bytes`, read through exec: the very counter the stats API reports as
`memory_stats.max_usage`, without the second a stats call takes), else the stats API's
`max_usage`, else its current usage.

The outcome records the image reference and id (`loaded_by`, `details.image_id`),
`engine_exercised=True` once the engine's own image has started (a refusal, an OOM or a timeout
then come from the real engine), the load time (start to ready), the inference latency (measured inside the container, without exec's overhead), the peak
memory and the output shape ([tokens] for a completion, [dim] for an embedding).

How an image is started (its start profile) is the launcher's choice too: the image label
`org.pais.engine` names one when the image carries it (the test image built by
scripts/build-engine-image.sh carries `org.pais.engine=llama-cpp-python`), else the serving
engine's standard image is assumed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..runtime.engines import HARDENED_ENV, PORT, EngineLaunch, default_image, launch, start_profile
from ..runtime.hardening import docker_confinement
from .contract import BackendUnavailable, SmokeOutcome, SmokeRequest

BACKEND = "container"
DEFAULT_HOST = "unix:///var/run/docker.sock"
SANDBOX_MODEL = "/model"  # where the model directory is mounted, read-only
SMOKE_LABEL = "org.pais.smoke"
ALIAS = "pais-smoke"
NOBODY = "65534:65534"
PROMPT = "Hello, my name is"
EMBED_INPUT = "The quick brown fox jumps over the lazy dog."
_CONNECT_TIMEOUT_S = 10.0
_POLL_S = 0.25
_LOG_TAIL_CHARS = 4000

# Lines in an engine's log that say it refused the model (format, architecture, corrupt file).
_REFUSAL = re.compile(
    r"failed to load model|error loading model|unable to load model|invalid magic|gguf_init|"
    r"unknown model architecture|unsupported|not supported|is not a valid|could not load|"
    r"cannot load|no such file|does not appear to have|unrecognized|SafetensorError|"
    r"HeaderTooLarge|invalid (file|model|header|format)|corrupt",
    re.IGNORECASE,
)
_CAUSE = re.compile(r"error|fail|exception|invalid|unsupported|not supported|refus|corrupt|cannot|unable",
                    re.IGNORECASE)


def image_for(request: SmokeRequest) -> str:
    """The image the smoke test runs: --engine-image, else the one endpoints deploy would run."""
    return request.image or default_image(request.serving_engine, request.target)


def engine_launch(request: SmokeRequest, labels: Mapping[str, str] | None = None) -> EngineLaunch:
    """How endpoints deploy would start this request's engine (engines.launch), with the model
    at /model and the smoke test's alias as the served name; the image's labels may name the
    start profile."""
    return launch(request.serving_engine, request.target, SANDBOX_MODEL, served_name=ALIAS, gguf_file=request.gguf_file,
                  embedding=request.kind == "embedding", image=request.image, image_labels=labels)


# The in-container HTTP client: argv = method, url, body ('' for none), timeout seconds.
# Prints one JSON object: status (0 when no answer), seconds, body. No proxies: loopback only.
_PROBE_PY = r"""
import json, sys, time, urllib.request, urllib.error
method, url, body, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
data = body.encode() if body else None
headers = {"Content-Type": "application/json"} if data else {}
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
start = time.monotonic()
try:
    with opener.open(urllib.request.Request(url, data=data, method=method, headers=headers), timeout=timeout) as r:
        status, payload = r.status, r.read()
except urllib.error.HTTPError as e:
    status, payload = e.code, e.read()
except Exception as e:
    status, payload = 0, repr(e).encode()
sys.stdout.write(json.dumps({"status": status, "seconds": time.monotonic() - start,
                             "body": payload.decode("utf-8", "replace")}))
"""
_CURL_MARK = "\n__pais_probe__ "


@dataclass
class HttpAnswer:
    status: int  # 0: no answer (connection refused, timeout)
    seconds: float
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


class _NoClient(Exception):
    """The image has neither python3 nor curl for the in-container probe."""


class _Prober:
    """HTTP to the engine on the container's own loopback, through exec."""

    def __init__(self, container: Any, user: str, port: int = PORT) -> None:
        self.container = container
        self.user = user
        self.port = port
        self.client: str | None = None  # "python3" or "curl", found on first use

    def _exec(self, cmd: list[str]) -> tuple[int | None, str, str]:
        code, output = self.container.exec_run(cmd, user=self.user, demux=True)
        out, err = output if isinstance(output, tuple) else (output, None)
        return code, (out or b"").decode("utf-8", "replace"), (err or b"").decode("utf-8", "replace")

    def _detect(self) -> str | None:
        """python3 or curl; None while undecided (an exec killed for memory, say, proves nothing)."""
        missing = 0
        for name, cmd in (("python3", ["python3", "-c", "pass"]), ("curl", ["curl", "--version"])):
            code, out, err = self._exec(cmd)
            if code == 0:
                return name
            if code in (126, 127) and ("not found" in out + err or "no such file" in (out + err).lower()):
                missing += 1
        if missing == 2:
            raise _NoClient()
        return None

    def request(self, method: str, path: str, body: Any, timeout_s: float) -> HttpAnswer:
        if self.client is None:
            self.client = self._detect()
            if self.client is None:
                return HttpAnswer(0, 0.0, "no HTTP client could run in the container yet")
        url = f"http://127.0.0.1:{self.port}{path}"
        payload = json.dumps(body) if body is not None else ""
        timeout_s = max(1.0, timeout_s)
        if self.client == "python3":
            code, out, err = self._exec(["python3", "-c", _PROBE_PY, method, url, payload, f"{timeout_s:.1f}"])
            try:
                answer = json.loads(out)
                return HttpAnswer(int(answer["status"]), float(answer["seconds"]), str(answer["body"]))
            except (ValueError, KeyError, TypeError):
                return HttpAnswer(0, 0.0, (out + err)[-500:] or f"probe exited {code}")
        cmd = ["curl", "-sS", "--noproxy", "*", "-m", f"{timeout_s:.1f}", "-X", method,
               "-w", _CURL_MARK + "%{http_code} %{time_total}"]
        if payload:
            cmd += ["-H", "Content-Type: application/json", "--data-binary", payload]
        code, out, err = self._exec(cmd + [url])
        body, _, tail = out.rpartition(_CURL_MARK)
        try:
            status_text, seconds_text = tail.split()
            return HttpAnswer(int(status_text), float(seconds_text), body)
        except ValueError:
            return HttpAnswer(0, 0.0, (out + err)[-500:] or f"curl exited {code}")

    def read_file(self, path: str) -> str | None:
        code, out, _ = self._exec(["cat", path])
        return out if code == 0 else None


def _fmt_bytes(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.4g} {unit}"
    return f"{n} B"


def _tail(text: str, chars: int = _LOG_TAIL_CHARS) -> str:
    return text[-chars:]


def _cause(log: str) -> str:
    """The most telling line of an engine's log: a refusal line first, then the last error."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in lines:
        if _REFUSAL.search(line):
            return line[:300]
    for line in reversed(lines):
        if _CAUSE.search(line):
            return line[:300]
    return lines[-1][:300] if lines else "(the engine wrote no log)"


def _finite(values: Any) -> bool:
    if isinstance(values, list):
        return all(_finite(v) for v in values)
    return isinstance(values, (int, float)) and not isinstance(values, bool) and math.isfinite(values)


def _shape(values: Any) -> list[int]:
    shape: list[int] = []
    while isinstance(values, list):
        shape.append(len(values))
        values = values[0] if values else None
    return shape


def _container_user(model_dir: Path) -> tuple[str, int, int]:
    st = model_dir.stat()
    if st.st_uid != 0:
        return f"{st.st_uid}:{st.st_gid}", st.st_uid, st.st_gid
    return NOBODY, 65534, 65534


def _unreadable(model_dir: Path, uid: int, gid: int, limit: int = 10000) -> Path | None:
    """The first file or directory the container's user could not read, judged by mode bits."""
    def ok(path: Path, need: int) -> bool:
        st = path.stat()
        if st.st_uid == uid:
            return ((st.st_mode >> 6) & need) == need
        if st.st_gid == gid:
            return ((st.st_mode >> 3) & need) == need
        return (st.st_mode & need) == need

    seen = 0
    for root, _dirs, files in os.walk(model_dir):
        if not ok(Path(root), 5):
            return Path(root)
        for name in files:
            path = Path(root, name)
            seen += 1
            if seen > limit:
                return None
            if path.exists() and stat.S_ISREG(path.stat().st_mode) and not ok(path, 4):
                return path
    return None


class ContainerSandbox:
    """Runs the smoke test in the serving engine's own container image (see the module docstring)."""

    name = BACKEND

    def __init__(self, docker_host: str | None = None, *,
                 on_answered: Callable[[Any], None] | None = None) -> None:
        """docker_host: the engine's API address (unix://, tcp://, ssh://); default the standard
        socket (the CLI passes $DOCKER_HOST). on_answered: called with the running engine container
        (a docker SDK Container) once it has answered the request and before it is removed: audits
        and tests look inside the very sandbox that ran the model."""
        self.docker_host = docker_host or DEFAULT_HOST
        self.on_answered = on_answered

    # -- connection ----------------------------------------------------------------------------

    def _remedy(self) -> str:
        return ("start the container engine (Docker: `dockerd`, or Podman: `podman system service`) "
                f"so that it listens on {self.docker_host}, or point pais at one with DOCKER_HOST / --docker-host")

    def connect(self, timeout_s: float = 60.0) -> Any:
        """A docker SDK client for this host, or BackendUnavailable (no SDK, no socket, no answer)."""
        try:
            import docker
            from docker.errors import DockerException
        except ImportError as exc:
            raise BackendUnavailable("the docker Python SDK is not installed",
                                     "pip install 'pais[smoke]' (or 'docker>=7.1') in the environment pais runs from") from exc
        host = self.docker_host
        if host.startswith("unix://"):
            path = host[len("unix://"):]
            if not os.path.exists(path):
                raise BackendUnavailable(f"no container engine socket at {path}", self._remedy())
        try:
            probe = docker.DockerClient(base_url=host, timeout=int(_CONNECT_TIMEOUT_S))
            probe.ping()
            version = probe.api.api_version
            probe.close()
            return docker.DockerClient(base_url=host, version=version, timeout=math.ceil(timeout_s))
        except DockerException as exc:
            raise BackendUnavailable(f"the container engine at {host} does not answer: {exc}", self._remedy()) from exc
        except OSError as exc:  # a socket file with no engine behind it, permissions
            raise BackendUnavailable(f"the container engine at {host} cannot be reached: {exc}", self._remedy()) from exc

    def has_image(self, image: str) -> bool:
        """Whether the engine holds `image` (no pull is ever tried); BackendUnavailable without an engine."""
        if not image:
            return False
        client = self.connect(timeout_s=_CONNECT_TIMEOUT_S * 3)  # first: no SDK is BackendUnavailable
        from docker.errors import ImageNotFound

        try:
            client.images.get(image)
            return True
        except ImageNotFound:
            return False
        finally:
            client.close()

    def pull_command(self, image: str) -> str:
        if self.docker_host == DEFAULT_HOST:
            return f"docker pull {image}"
        return f"docker --host {self.docker_host} pull {image}"

    # -- the smoke test --------------------------------------------------------------------------

    def run(self, request: SmokeRequest) -> SmokeOutcome:
        limits = request.limits
        client = self.connect(timeout_s=limits.timeout_s + 60)
        try:
            return self._run(client, request)
        finally:
            client.close()

    def _outcome(self, loaded_by: str, **kwargs: Any) -> SmokeOutcome:
        return SmokeOutcome(passed=kwargs.pop("passed", False), backend=BACKEND, loaded_by=loaded_by,
                            engine_exercised=kwargs.pop("engine_exercised", False), **kwargs)

    def _run(self, client: Any, request: SmokeRequest) -> SmokeOutcome:
        from docker.errors import APIError, ImageNotFound, NotFound

        try:
            image_ref = image_for(request)
        except ValueError as exc:
            return self._outcome("", failure="sandbox", message=str(exc))
        model_dir = Path(request.model_dir).resolve()
        if not model_dir.is_dir():
            return self._outcome(image_ref, failure="sandbox", message=f"model directory {model_dir} does not exist")

        try:
            image = client.images.get(image_ref)
        except ImageNotFound:
            pull = self.pull_command(image_ref)
            return self._outcome(
                image_ref, failure="image-missing",
                message=f"the engine image {image_ref} is not on the container engine at {self.docker_host}",
                hint=f"{pull}   (offline: `docker save` it on a connected machine and `docker load -i` the tarball here)",
                details={"image": image_ref, "pull_command": pull})
        loaded_by = f"{image_ref} ({image.id})"
        labels = (image.attrs.get("Config") or {}).get("Labels") or {}
        try:
            profile = start_profile(request.serving_engine, labels)
            if profile.needs_gguf and not request.gguf_file:
                ggufs = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*.gguf"))
                if not ggufs:
                    return self._outcome(loaded_by, failure="refused",
                                         message=f"{profile.name} serves GGUF files and {model_dir} has none")
                request = replace(request, gguf_file=ggufs[0])
            start = engine_launch(request, labels)
        except ValueError as exc:
            return self._outcome(loaded_by, failure="sandbox", message=str(exc))

        user, uid, gid = _container_user(model_dir)
        blocked = _unreadable(model_dir, uid, gid)
        if blocked is not None:
            return self._outcome(loaded_by, failure="sandbox", message=f"the sandbox user {user} cannot read {blocked}",
                                 hint=f"chmod -R a+rX {model_dir}  (the engine runs as a non-root user)")

        spec, details = container_spec(request, start, model_dir, image.id, user)
        run = _Run(self, loaded_by, start, request, details)
        container = None
        try:
            try:
                container = client.containers.create(**spec)
                details["container"] = container.id
                run.started = time.monotonic()
                container.start()
                run.engine_exercised = True
            except APIError as exc:
                hint = None
                if request.gpu and "gpu" in str(exc).lower():
                    hint = "install the NVIDIA Container Toolkit where the engine runs, or run without a GPU"
                return run.outcome(failure="sandbox", hint=hint,
                                   message=f"the container engine could not start the engine container: "
                                           f"{exc.explanation or exc}")
            return run.drive(container)
        finally:
            if container is not None:
                if "log_tail" not in details:  # stop it, then read its whole log before removing it
                    try:
                        container.kill()
                    except APIError:
                        pass  # it had stopped
                    details["log_tail"] = _tail(_logs(container))
                try:
                    container.remove(force=True, v=True)
                except NotFound:
                    pass
                except APIError as exc:
                    details["remove_error"] = str(exc)


def container_spec(request: SmokeRequest, start: EngineLaunch, model_dir: Path, image_id: str,
                   user: str = NOBODY) -> tuple[dict[str, Any], dict[str, Any]]:
    """The container to create (docker SDK `containers.create` arguments) that runs `start` on
    `model_dir`, confined, and its description for the outcome's details."""
    from docker.types import DeviceRequest, Mount

    limits = request.limits
    tmp_bytes = max(64 * 1024**2, min(limits.memory_bytes // 4, 2 * 1024**3))
    # The launcher's environment (HOME and caches on /tmp, offline, no telemetry: the pod's own)
    # and the pod's confinement (runtime.hardening), translated for the Docker Engine API.
    env = {**HARDENED_ENV, **start.env}
    confinement = docker_confinement(start, user, tmp_bytes)
    if "/tmp" not in confinement["tmpfs"]:
        confinement["tmpfs"]["/tmp"] = f"rw,nosuid,nodev,size={tmp_bytes},mode=1777"  # HOME for the in-container probe
    spec: dict[str, Any] = {
        "image": image_id, "command": start.args, "name": f"pais-smoke-{uuid.uuid4().hex[:12]}", "detach": True,
        "network_mode": "none",
        "mounts": [Mount(target=SANDBOX_MODEL, source=str(model_dir), type="bind", read_only=True)],
        **confinement,
        "mem_limit": limits.memory_bytes, "memswap_limit": limits.memory_bytes,  # no swap beyond the limit
        "nano_cpus": int(limits.cpus * 1e9), "pids_limit": limits.pids,
        "environment": env, "labels": {SMOKE_LABEL: "1"}, "working_dir": "/tmp",
    }
    if start.command is not None:
        spec["entrypoint"] = start.command
    if start.shm_bytes:
        spec["shm_size"] = start.shm_bytes
    if request.gpu:
        spec["device_requests"] = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    details: dict[str, Any] = {
        # "flavour" (the start profile) keeps the key reports have always had.
        "image": start.image, "image_id": image_id, "flavour": start.profile,
        "command": start.argv, "user": user, "network": "none",
        "limits": {"memory_bytes": limits.memory_bytes, "cpus": limits.cpus, "pids": limits.pids,
                   "timeout_s": limits.timeout_s},
    }
    return spec, details


def _logs(container: Any) -> str:
    try:
        return container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
    except Exception as exc:  # noqa: BLE001 - logs are an explanation, never the verdict
        return f"(logs unavailable: {exc})"


class _Run:
    """One started engine container: readiness, the request, the verdict."""

    def __init__(self, sandbox: ContainerSandbox, loaded_by: str, start: EngineLaunch, request: SmokeRequest,
                 details: dict[str, Any]) -> None:
        self.sandbox = sandbox
        self.loaded_by = loaded_by
        self.start = start
        self.request = request
        self.details = details
        self.started = time.monotonic()
        self.engine_exercised = False
        self.load_seconds: float | None = None

    def outcome(self, **kwargs: Any) -> SmokeOutcome:
        kwargs.setdefault("load_seconds", self.load_seconds)
        return SmokeOutcome(passed=kwargs.pop("passed", False), backend=BACKEND, loaded_by=self.loaded_by,
                            engine_exercised=self.engine_exercised, details=self.details, **kwargs)

    def drive(self, container: Any) -> SmokeOutcome:
        from docker.errors import APIError

        limits = self.request.limits
        deadline = self.started + limits.timeout_s
        prober = _Prober(container, self.details["user"], self.start.port)
        health: HttpAnswer | None = None
        while time.monotonic() < deadline:
            container.reload()
            if container.status not in ("created", "running"):
                return self.exited(container, "while loading the model")
            try:
                health = prober.request("GET", self.start.health_path, None, min(5.0, deadline - time.monotonic()))
            except _NoClient:
                return self.outcome(failure="sandbox", message=f"{self.details['image']} has neither python3 nor "
                                    "curl: pais cannot reach the engine inside its network-less container")
            except APIError:
                health = None  # it stopped between the check and the exec: the next turn explains
            if health is not None and health.status == 200:
                break
            time.sleep(_POLL_S)
        else:
            container.reload()
            if container.status not in ("created", "running"):
                return self.exited(container, "while loading the model")
            self.details["seconds_to_failure"] = time.monotonic() - self.started
            container.kill()
            container.wait(timeout=30)
            self.details["log_tail"] = _tail(_logs(container))
            last = f"HTTP {health.status}" if health and health.status else "no answer"
            return self.outcome(failure="timeout", hint="raise the smoke timeout, or read details.log_tail",
                                message=f"the engine was not ready within {limits.timeout_s:g} s "
                                        f"(last probe of {self.start.health_path}: {last})")
        self.load_seconds = time.monotonic() - self.started

        left = deadline - time.monotonic()
        body: dict[str, Any]
        if self.request.kind == "embedding":
            path, body = "/v1/embeddings", {"model": ALIAS, "input": EMBED_INPUT}
        else:
            # min_tokens / ignore_eos: at least one generated token even from a random tiny model
            # (llama-cpp-python and vLLM read min_tokens; llama.cpp and vLLM ignore_eos).
            path, body = "/v1/completions", {"model": ALIAS, "prompt": PROMPT, "max_tokens": 4, "min_tokens": 1,
                                             "ignore_eos": True, "temperature": 0}
        self.details["request"] = {"path": path, "body": body}
        try:
            answer = prober.request("POST", path, body, left)
        except APIError:
            answer = HttpAnswer(0, 0.0, "the container stopped during the request")
        container.reload()
        if container.status not in ("created", "running"):
            return self.exited(container, "during the inference request")
        peak, source = _peak_memory(container, prober)
        self.details["peak_memory_source"] = source
        if self.sandbox.on_answered is not None:
            self.sandbox.on_answered(container)
        measured = {"inference_seconds": answer.seconds or None, "peak_memory_bytes": peak}
        if answer.status == 0:
            timed_out = time.monotonic() >= deadline
            return self.outcome(failure="timeout" if timed_out else "bad-output", **measured,
                                message=f"no answer from {path}"
                                        + (f" within {limits.timeout_s:g} s (load plus inference)" if timed_out
                                           else f": {answer.body[:300]}"))
        if answer.status != 200:
            self.details["response_tail"] = _tail(answer.body, 1000)
            return self.outcome(failure="bad-output", message=f"{path} answered HTTP {answer.status}: "
                                f"{answer.body[:300]}", **measured)
        try:
            verdict = _check(self.request, answer.json())
        except ValueError:
            verdict = f"{path} answered something that is not JSON"
        if isinstance(verdict, str):
            self.details["response_tail"] = _tail(answer.body, 1000)
            return self.outcome(failure="bad-output", message=verdict, **measured)
        shape, summary = verdict
        return self.outcome(passed=True, output_shape=shape, message=summary, **measured)

    def exited(self, container: Any, during: str) -> SmokeOutcome:
        """Explain a container that stopped by itself: OOM, the engine refusing the model, a crash."""
        with contextlib.suppress(Exception):  # the state below says what it can
            container.wait(timeout=30)
        container.reload()
        state = container.attrs.get("State") or {}
        code = int(state.get("ExitCode", -1))
        log = _logs(container)
        self.details.update(exit_code=code, oom_killed=bool(state.get("OOMKilled")), log_tail=_tail(log),
                            seconds_to_failure=time.monotonic() - self.started)
        limit = self.request.limits.memory_bytes
        if state.get("OOMKilled") or code == 137:  # pais kills only containers it has judged already
            return self.outcome(failure="oom", hint="raise the smoke memory limit (SmokeLimits.memory_bytes)",
                                message=f"the engine was killed for memory {during} (exit {code}): it needs "
                                        f"more than the {_fmt_bytes(limit)} memory limit")
        cause = _cause(log)
        if code != 0 and _REFUSAL.search(log):
            return self.outcome(failure="refused", hint="the engine's log tail is in details.log_tail",
                                message=f"the engine ({self.start.profile}) refused the model {during} "
                                        f"(exit {code}): {cause}")
        return self.outcome(failure="crashed", hint="the engine's log tail is in details.log_tail",
                            message=f"the engine ({self.start.profile}) exited {during} (exit {code}): {cause}")


def _peak_memory(container: Any, prober: _Prober) -> tuple[int | None, str]:
    """The container's peak memory: its own cgroup's high-water mark (cgroup v2 memory.peak, v1
    memory.max_usage_in_bytes, read through exec: the same counter `docker stats` reports as
    max_usage, without the second stats takes), else the stats API, else the current usage."""
    for path in ("/sys/fs/cgroup/memory.peak", "/sys/fs/cgroup/memory/memory.max_usage_in_bytes"):
        try:
            text = prober.read_file(path)
        except Exception:  # noqa: BLE001
            text = None
        if text and text.strip().isdigit():
            return int(text.strip()), f"cgroup {path}"
    try:
        mem = container.stats(stream=False).get("memory_stats") or {}
    except Exception:  # noqa: BLE001
        return None, "unavailable"
    if mem.get("max_usage"):
        return int(mem["max_usage"]), "stats memory_stats.max_usage"
    if mem.get("usage"):
        return int(mem["usage"]), "stats memory_stats.usage (after the request; no peak available)"
    return None, "unavailable"


def _check(request: SmokeRequest, data: Any) -> tuple[list[int], str] | str:
    """(output shape, summary) when the answer is a well-formed result, else why it is not."""
    if not isinstance(data, dict):
        return "the answer is not a JSON object"
    if request.kind == "embedding":
        items = data.get("data")
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            return "the embeddings answer has no data[0]"
        vector = items[0].get("embedding")
        if not isinstance(vector, list) or not vector:
            return "data[0].embedding is empty or not a list"
        if not _finite(vector):
            return "the embedding holds non-finite or non-numeric values"
        shape = _shape(vector)
        dim = shape[-1]
        if request.expected_dim is not None and dim != request.expected_dim:
            return f"the embedding has dimension {dim}, and the model's config says {request.expected_dim}"
        note = "" if len(shape) == 1 else f" (one vector per token: {shape[0]} tokens; the model has no pooling)"
        return shape, f"embedding of dimension {dim}, all values finite{note}"
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "the completion answer has no choices[0]"
    text = choices[0].get("text")
    if not isinstance(text, str):
        return "choices[0].text is not a string"
    usage = data.get("usage")
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if not isinstance(tokens, int):
        tokens = 1 if text else 0
    if tokens < 1:
        return "the engine generated no token"
    logprobs = choices[0].get("logprobs")
    if (isinstance(logprobs, dict) and isinstance(logprobs.get("token_logprobs"), list)
            and not _finite([v for v in logprobs["token_logprobs"] if v is not None])):
        return "the completion's log-probabilities are not finite"
    return [tokens], f"{tokens} token(s) generated: {text[:60]!r}"
