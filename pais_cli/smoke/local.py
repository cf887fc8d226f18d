"""The `local` sandbox backend: the model's reference loader (llama-cpp-python, transformers,
sentence-transformers) in a child process, isolated without containers.

The CLI process never imports a loader or touches the weights. It starts
`python -I runner.py SPEC` (the same interpreter, or the one given) inside:

- **bubblewrap** (preferred): every namespace unshared (network: loopback only; pid; ipc; uts;
  user; cgroup), all capabilities dropped, a read-only root assembled from the system
  directories, the Python installation and its `sys.path` only (home directories and the
  user's configuration stay invisible), the model read-only at /model, a private tmpfs /tmp as
  the only writable place, and the child dies with its parent.
- **unshare** (fallback, util-linux): own user, network, mount and pid namespaces; every mount
  remounted read-only; a tmpfs scratch directory; capabilities dropped with setpriv before the
  runner starts. The whole filesystem stays visible (read-only).

Limits, without cgroups:

- memory, three layers: (1) a watchdog here samples the resident memory of the whole process
  tree every 0.05 s and kills it past the limit (resident memory counts memory-mapped weights
  too); (2) the child's own peak (VmHWM), checked after the run, catches what grew and ended
  between two samples; (3) RLIMIT_DATA, the hard cap on private writable memory, sits above
  the limit by a headroom (default max(256 MiB, 25%)) so that it only stops bursts faster than
  the watchdog: allocations past it fail at once (MemoryError, std::bad_alloc, ggml "failed to
  allocate"). The cap is not put at the limit itself because some libraries do not fail when an
  allocation fails: OpenBLAS's thread-buffer allocation at import retries forever (measured:
  `import sentence_transformers` under a 300 MiB RLIMIT_DATA spins until killed), which would
  read as a timeout. A run killed by the clock while its private memory sits at the cap is
  reported as out of memory. RLIMIT_AS is not used: torch reserves gigabytes of address space
  it never touches.
- time: the wall clock, enforced here (the whole process group is killed); RLIMIT_CPU at
  timeout x cpus as a backstop.
- CPUs: the child's CPU affinity is cut to ceil(cpus) cores, and the runtimes are told to use
  that many threads.
- processes: the child is in its own pid namespace (everything in it dies with it). RLIMIT_NPROC
  is per user, not per sandbox: for a non-root user it is set to the user's current task count
  plus `pids`; root ignores it, so it is not set then (recorded in the outcome's details).
- files: RLIMIT_FSIZE 64 MiB (the tmpfs and the captured stderr), RLIMIT_CORE 0.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .contract import BackendUnavailable, SmokeLimits, SmokeOutcome, SmokeRequest

RUNNER = Path(__file__).with_name("runner.py")
SANDBOX_MODEL = "/model"
SANDBOX_RUNNER = "/pais/runner.py"
FSIZE_LIMIT = 64 * 1024**2
POLL_S = 0.05
CAP_NEAR = 0.9  # killed by the clock with private memory at 90% of the cap or more: out of memory
KILL_WAIT_S = 10.0
INSPECT_TIMEOUT_S = 60.0
PREFLIGHT_TIMEOUT_S = 30.0
STDERR_TAIL = 4000

# What each loader imports, and the distribution that provides it.
LOADER_MODULES: dict[str, tuple[tuple[str, str], ...]] = {
    "llamacpp": (("llama_cpp", "llama-cpp-python"), ("numpy", "numpy")),
    "transformers": (("transformers", "transformers"), ("torch", "torch"), ("safetensors", "safetensors")),
    "sentence-transformers": (("sentence_transformers", "sentence-transformers"), ("transformers", "transformers"),
                              ("torch", "torch"), ("safetensors", "safetensors")),
}
LOADER_LABEL = {"llamacpp": ("llama-cpp-python",), "transformers": ("transformers", "torch"),
                 "sentence-transformers": ("sentence-transformers", "transformers", "torch")}
INSTALL = {"torch": "torch --index-url https://download.pytorch.org/whl/cpu"}

PHASES = {"import": "importing the runtime", "load": "loading the model", "infer": "running the inference"}
MEMORY_PATTERN = re.compile(
    r"out of memory|not enough memory|cannot allocate memory|can't allocate memory|bad_alloc"
    r"|failed to allocate|insufficient memory|failed to map segment|unable to allocate|MemoryError|mmap failed",
    re.IGNORECASE,
)
# Lines of llama.cpp / Python output that say why something failed, for the message.
ERROR_PATTERN = re.compile(r"error|invalid|corrupt|exceeds|not within|out of bounds", re.IGNORECASE)
CAUSE_PATTERN = re.compile(r"failed|unexpected|cannot|unable", re.IGNORECASE)

# Only these files of /etc are visible in the bubblewrap sandbox.
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
             "/etc/localtime", "/etc/hosts", "/etc/os-release", "/etc/alternatives")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYS_DIRS = ("/sys/devices/system/cpu", "/sys/devices/system/node", "/sys/fs/cgroup")

_INSPECT = r"""
import importlib.util, json, sys
from importlib import metadata
out = {"prefix": sys.prefix, "base_prefix": sys.base_prefix, "exec_prefix": sys.exec_prefix,
       "base_exec_prefix": sys.base_exec_prefix, "executable": sys.executable, "path": sys.path,
       "version": sys.version.split()[0], "modules": {}}
for mod, dist in json.loads(sys.argv[1]):
    try:
        found = importlib.util.find_spec(mod) is not None
    except (ImportError, ValueError):
        found = False
    try:
        ver = metadata.version(dist)
    except metadata.PackageNotFoundError:
        ver = None
    out["modules"][mod] = {"found": found, "version": ver, "dist": dist}
print(json.dumps(out))
"""

_UNSHARE_SCRIPT = r"""
scratch=$1; shift
awk '{print $5}' /proc/self/mountinfo | while read -r m; do
  m=$(printf '%b' "$m")
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
mount -t tmpfs -o mode=700 tmpfs "$scratch" || { echo "unshare sandbox: cannot mount a tmpfs at $scratch" >&2; exit 125; }
"$@"
exit $?
"""


def _gib(n: int | float, digits: int = 0) -> str:
    if n >= 1024**3:
        return f"{n / 1024**3:.2f} GiB"
    return f"{n / 1024**2:.{digits}f} MiB"


@dataclass
class Interpreter:
    """What the child's interpreter sees, learned without importing any loader."""

    executable: str
    roots: list[str]  # directories the sandbox must show for it to start and import
    modules: dict[str, dict[str, Any]]
    version: str


@dataclass
class SandboxCommand:
    argv: list[str]
    env: dict[str, str]
    model_path: str  # where the runner finds the model
    isolation: dict[str, Any]
    cleanup: list[Path] = field(default_factory=list)


def _existing_roots(paths: list[str]) -> list[str]:
    """Directories to bind: existing, outside the system directories, without nesting."""
    real: set[str] = set()
    for p in paths:
        if not p:
            continue
        path = Path(p)
        if path.is_file():  # python311.zip and the like
            path = path.parent
        if not path.is_dir():
            continue
        for candidate in (path.absolute(), path.resolve()):
            real.add(str(candidate))
    out: list[str] = []
    for p in sorted(real, key=len):
        if p == "/" or any(p == s or p.startswith(s.rstrip("/") + "/") for s in (*SYSTEM_DIRS, *out)):
            continue
        out.append(p)
    return out


class LocalSandbox:
    """Run the smoke test with the reference loader in a bubblewrap (or unshare) sandbox.

    `python`: the interpreter that runs the model (default: this one); it needs the loader
    installed. `library_path`: LD_LIBRARY_PATH for the child (its directories are shown in the
    sandbox), as the caller has it; nothing here reads the environment. `isolation`: "auto"
    (bubblewrap, else unshare), "bwrap" or "unshare".
    """

    name = "local"

    def __init__(self, python: str | None = None, isolation: str = "auto", data_headroom: int | None = None,
                 library_path: str | None = None) -> None:
        if isolation not in ("auto", "bwrap", "unshare"):
            raise ValueError(f"unknown isolation {isolation!r}: use auto, bwrap or unshare")
        self.python = python or sys.executable
        self.isolation = isolation
        self.library_path = library_path
        self.data_headroom = data_headroom  # bytes above the memory limit for RLIMIT_DATA; None: the default
        self._interpreter: Interpreter | None = None
        self._isolation_choice: str | None = None

    # --- what is available ---------------------------------------------------------------

    def interpreter(self) -> Interpreter:
        if self._interpreter is None:
            wanted = sorted({pair for pairs in LOADER_MODULES.values() for pair in pairs})
            try:
                done = subprocess.run([self.python, "-I", "-c", _INSPECT, json.dumps(wanted)], capture_output=True,
                                      text=True, timeout=INSPECT_TIMEOUT_S, stdin=subprocess.DEVNULL)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise BackendUnavailable(f"cannot run the interpreter {self.python}: {exc}",
                                         "give the local backend a working Python interpreter") from exc
            if done.returncode != 0:
                raise BackendUnavailable(f"the interpreter {self.python} failed: {done.stderr.strip()[-500:]}",
                                         "give the local backend a working Python interpreter")
            info = json.loads(done.stdout)
            exe = Path(self.python)
            roots = _existing_roots([info["prefix"], info["base_prefix"], info["exec_prefix"], info["base_exec_prefix"],
                                     str(exe.absolute().parent), str(exe.resolve().parent), *info["path"]])
            self._interpreter = Interpreter(self.python, roots, info["modules"], info["version"])
        return self._interpreter

    def check_loader(self, loader: str) -> str:
        """The loader's label ("transformers 5.1 / torch 2.13.0"), or BackendUnavailable."""
        if loader not in LOADER_MODULES:
            raise BackendUnavailable(
                f"the local backend runs the reference runtimes (llamacpp, transformers, sentence-transformers), not {loader}",
                "use the container backend to run the engine itself, or ask for the reference runtime",
            )
        modules = self.interpreter().modules
        missing = [dist for mod, dist in LOADER_MODULES[loader] if not modules.get(mod, {}).get("found")]
        if missing:
            packages = " ".join(INSTALL.get(d, d) for d in missing)
            raise BackendUnavailable(
                f"the {loader} runtime is not installed for {self.python} (missing: {', '.join(missing)})",
                f"{self.python} -m pip install {packages}",
            )
        versions = {info["dist"]: info["version"] for info in modules.values()}
        return " / ".join(f"{dist} {versions.get(dist) or '?'}" for dist in LOADER_LABEL[loader])

    def _preflight(self, kind: str) -> str | None:
        """None when a trivial Python starts inside this kind of sandbox; else why not."""
        tool = shutil.which("bwrap" if kind == "bwrap" else "unshare")
        if tool is None:
            return f"{'bwrap' if kind == 'bwrap' else 'unshare'} is not installed"
        if kind == "unshare" and shutil.which("setpriv") is None:
            return "setpriv (util-linux) is not installed"
        with tempfile.TemporaryDirectory(prefix="pais-preflight-") as tmp:
            cmd = self._command(kind, Path(tmp), {"mode": "noop"}, SmokeLimits(), python_args=["-I", "-c", "pass"])
            try:
                done = subprocess.run(cmd.argv, env=cmd.env, capture_output=True, text=True, timeout=PREFLIGHT_TIMEOUT_S,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"{kind} did not start: {exc}"
            finally:
                for path in cmd.cleanup:
                    shutil.rmtree(path, ignore_errors=True)
        if done.returncode != 0:
            return f"{kind} failed (exit {done.returncode}): {done.stderr.strip()[-400:]}"
        return None

    def sandbox_kind(self) -> str:
        """The isolation in use ("bwrap" or "unshare"), or BackendUnavailable."""
        if self._isolation_choice is None:
            reasons = []
            for kind in (("bwrap", "unshare") if self.isolation == "auto" else (self.isolation,)):
                why = self._preflight(kind)
                if why is None:
                    self._isolation_choice = kind
                    break
                reasons.append(why)
            else:
                raise BackendUnavailable(
                    "no sandbox can start here: " + "; ".join(reasons),
                    "install bubblewrap (apt-get install bubblewrap) and allow unprivileged user namespaces "
                    "(sysctl kernel.unprivileged_userns_clone=1 or the distribution's AppArmor profile for bwrap)",
                )
        return self._isolation_choice

    # --- the command --------------------------------------------------------------------

    def _env(self, home: str, threads: int) -> dict[str, str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "HOME": home, "TMPDIR": home, "XDG_CACHE_HOME": f"{home}/.cache", "HF_HOME": f"{home}/.cache/huggingface",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
            "DO_NOT_TRACK": "1", "TORCH_FORCE_WEIGHTS_ONLY_LOAD": "1", "TRUST_REMOTE_CODE": "0",
            "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "TRANSFORMERS_VERBOSITY": "error", "CUDA_VISIBLE_DEVICES": "", "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
        }
        if self.library_path:
            env["LD_LIBRARY_PATH"] = self.library_path
        return env

    def _command(self, kind: str, model_dir: Path, spec: dict[str, Any], limits: SmokeLimits,
                 python_args: list[str] | None = None) -> SandboxCommand:
        threads = _threads(limits)
        if kind == "bwrap":
            return self._bwrap(model_dir, spec, threads, python_args)
        return self._unshare(model_dir, spec, threads, python_args)

    def _bwrap(self, model_dir: Path, spec: dict[str, Any], threads: int, python_args: list[str] | None) -> SandboxCommand:
        # /tmp first: a Python installation or model under /tmp is then bound on top of it, not hidden by it.
        argv = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent", "--cap-drop", "ALL", "--tmpfs", "/",
                "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for d in SYSTEM_DIRS:
            if os.path.islink(d):
                argv += ["--symlink", os.readlink(d), d]
            elif os.path.isdir(d):
                argv += ["--ro-bind", d, d]
        for f in ETC_FILES:
            argv += ["--ro-bind-try", f, f]
        for d in SYS_DIRS:
            argv += ["--ro-bind-try", d, d]
        for root in self.interpreter().roots:
            argv += ["--ro-bind", root, root]
        for d in (self.library_path or "").split(":"):
            if d.startswith("/"):
                argv += ["--ro-bind-try", d, d]
        argv += [*_model_binds(model_dir),
                 "--ro-bind", str(RUNNER.resolve()), SANDBOX_RUNNER,
                 "--remount-ro", "/", "--chdir", "/tmp", "--"]
        spec = {**spec, "model_path": SANDBOX_MODEL}
        argv += [self.python, *(python_args or ["-I", SANDBOX_RUNNER, json.dumps(spec)])]
        isolation = {
            "sandbox": f"bubblewrap {_tool_version('bwrap')}",
            "network": "own network namespace (loopback only)",
            "filesystem": "read-only root of system directories and the Python installation; model read-only at "
                          f"{SANDBOX_MODEL}; writable: a private tmpfs /tmp",
            "namespaces": "user, pid, ipc, uts, net, mount, cgroup",
            "capabilities": "all dropped",
        }
        return SandboxCommand(argv, self._env("/tmp", threads), SANDBOX_MODEL, isolation)

    def _unshare(self, model_dir: Path, spec: dict[str, Any], threads: int, python_args: list[str] | None) -> SandboxCommand:
        scratch = Path(tempfile.mkdtemp(prefix="pais-smoke-"))
        model = str(model_dir.resolve())
        spec = {**spec, "model_path": model}
        argv = [shutil.which("unshare") or "unshare", "--user", "--map-root-user", "--net", "--mount", "--propagation", "private",
                "--pid", "--fork", "--kill-child", "--mount-proc", "--", "/bin/sh", "-c", _UNSHARE_SCRIPT, "pais-sandbox",
                str(scratch), shutil.which("setpriv") or "setpriv", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs",
                "--", self.python, *(python_args or ["-I", str(RUNNER.resolve()), json.dumps(spec)])]
        isolation = {
            "sandbox": f"unshare ({_tool_version('unshare')})",
            "network": "own network namespace (loopback only)",
            "filesystem": f"every mount read-only (all of it visible); model read-only at {model}; writable: a tmpfs {scratch}",
            "namespaces": "user, pid, net, mount",
            "capabilities": "all dropped (setpriv)",
        }
        return SandboxCommand(argv, self._env(str(scratch), threads), model, isolation, cleanup=[scratch])

    # --- running ------------------------------------------------------------------------

    def spawn(self, model_dir: Path, spec: dict[str, Any], limits: SmokeLimits) -> "Child":
        """Start the runner in the sandbox with the limits applied (used by run and by the probe)."""
        kind = self.sandbox_kind()
        rlimits, notes = _rlimits(limits, data_cap(limits, self.data_headroom))
        command = self._command(kind, model_dir, {**spec, "rlimits": rlimits}, limits)
        return Child(command, limits, rlimits["data"], notes)

    def run(self, request: SmokeRequest) -> SmokeOutcome:
        model_dir = Path(request.model_dir)
        if not model_dir.is_dir():
            raise FileNotFoundError(f"model directory {model_dir} does not exist")
        refusal = _refuse_before_start(request)
        if refusal:  # no loader is needed to refuse
            try:
                label = self.check_loader(request.loader)
            except BackendUnavailable:
                label = request.loader
            return SmokeOutcome(passed=False, backend=self.name, loaded_by=label, engine_exercised=False, failure="refused",
                                message=refusal[0], hint=refusal[1])
        label = self.check_loader(request.loader)
        outcome = SmokeOutcome(passed=False, backend=self.name, loaded_by=label, engine_exercised=False)
        if request.gpu:
            outcome.details["gpu"] = "not used: the local backend runs the reference runtime on CPU"
        limits = request.limits
        spec = {"mode": "smoke", "loader": request.loader, "kind": request.kind, "gguf_file": request.gguf_file,
                "expected_dim": request.expected_dim, "threads": _threads(limits), "max_tokens": 4, "n_ctx": 256}
        try:
            child = self.spawn(model_dir, spec, limits)
        except OSError as exc:
            outcome.failure, outcome.message = "sandbox", f"the sandbox did not start: {exc}"
            return outcome
        finished = child.wait()
        return _outcome(outcome, finished, limits)


def _refuse_before_start(request: SmokeRequest) -> tuple[str, str] | None:
    if request.weight_format in ("pickle", "pytorch"):  # detect() says "pytorch" for .bin/.pt/.pth
        return ("the weights are pickled (PyTorch .bin/.pt): loading them can run code, so the smoke test does not",
                "convert the weights to safetensors and push that revision")
    if request.loader == "llamacpp" and request.weight_format not in ("gguf", "unknown"):
        return (f"llama.cpp loads GGUF files, and the weights are {request.weight_format}",
                "run the smoke test with the transformers runtime, or push a GGUF conversion")
    if request.loader in ("transformers", "sentence-transformers") and request.weight_format not in ("safetensors", "unknown"):
        return (f"the {request.loader} runtime loads safetensors weights here, and the weights are {request.weight_format}",
                "convert the weights to safetensors")
    if request.loader == "sentence-transformers" and request.kind != "embedding":
        return ("sentence-transformers runs embedding models, and this is a completion model",
                "run the smoke test with the transformers runtime (or llamacpp for a GGUF)")
    if request.gguf_file and (request.gguf_file.startswith("/") or ".." in Path(request.gguf_file).parts):
        return (f"the GGUF path {request.gguf_file!r} leaves the model directory", "name a file inside the model directory")
    return None


def _model_binds(model_dir: Path) -> list[str]:
    """bwrap arguments that show the model read-only at /model. A directory with symbolic links
    (a Hugging Face cache snapshot links every file to ../../blobs) is rebuilt file by file from
    the links' targets, since a link to outside the directory would dangle in the sandbox."""
    root = model_dir.resolve()
    entries: list[tuple[Path, Path]] = []  # (relative path, what to bind there)
    dirs: list[Path] = []
    linked = False
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in (*filenames, *dirnames):
            path = here / name
            if path.is_symlink():
                linked = True
                target = path.resolve()
                if target.exists():  # a dangling link is left out: the runtime then says what is missing
                    entries.append((path.relative_to(root), target))
            elif name in filenames:
                entries.append((path.relative_to(root), path))
            else:
                dirs.append(path.relative_to(root))
    if not linked:
        return ["--ro-bind", str(root), SANDBOX_MODEL]
    args = ["--tmpfs", SANDBOX_MODEL]
    for rel in dirs:
        args += ["--dir", f"{SANDBOX_MODEL}/{rel.as_posix()}"]
    for rel, target in entries:
        args += ["--ro-bind", str(target), f"{SANDBOX_MODEL}/{rel.as_posix()}"]
    return [*args, "--remount-ro", SANDBOX_MODEL]


def _threads(limits: SmokeLimits) -> int:
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(available, math.ceil(limits.cpus)))


@functools.lru_cache(maxsize=None)
def _tool_version(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        return "?"
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0].split()[-1] if text else "?"


def _user_tasks(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(entry.path).st_uid == uid:
                count += len(os.listdir(f"{entry.path}/task"))
        except OSError:
            continue
    return count


def data_cap(limits: SmokeLimits, headroom: int | None = None) -> int:
    """RLIMIT_DATA for a memory limit: the limit plus headroom (default max(256 MiB, 25%))."""
    memory = int(limits.memory_bytes)
    return memory + (max(256 * 1024**2, memory // 4) if headroom is None else int(headroom))


def _rlimits(limits: SmokeLimits, cap: int) -> tuple[dict[str, Any], dict[str, str]]:
    """The limits the runner applies to itself first thing (setrlimit, sched_setaffinity), before
    it imports a runtime: applied in the child rather than in a preexec_fn, which is unsafe in a
    threaded parent. With every capability dropped the child cannot raise them again."""
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    threads = _threads(limits)
    cpus = affinity[:threads]
    cpu_seconds = _cpu_seconds(limits)
    nproc = None if os.geteuid() == 0 else _user_tasks(os.geteuid()) + int(limits.pids)
    rlimits = {"data": int(cap), "cpu": cpu_seconds, "core": 0, "fsize": FSIZE_LIMIT, "nproc": nproc, "cpus": cpus}
    notes = {
        "memory": f"{_gib(limits.memory_bytes)}: resident memory of the process tree sampled every {POLL_S:g} s, "
                  f"the child's peak resident memory, and RLIMIT_DATA {_gib(cap)} as the hard cap",
        "time": f"{limits.timeout_s:g} s wall clock (process group killed); RLIMIT_CPU {cpu_seconds} s",
        "cpus": f"affinity to {len(cpus) or '?'} core(s), {threads} runtime thread(s)",
        "pids": (f"RLIMIT_NPROC {nproc} (the user's tasks plus {limits.pids})" if nproc is not None
                 else "not enforced (root ignores RLIMIT_NPROC); own pid namespace"),
    }
    return rlimits, notes


def _cpu_seconds(limits: SmokeLimits) -> int:
    return int(math.ceil(limits.timeout_s * max(1.0, limits.cpus))) + 2


@dataclass
class Finished:
    returncode: int | None
    lines: list[dict[str, Any]]
    stderr: str
    wall_seconds: float
    timed_out: bool
    memory_killed: bool
    peak_tree_rss: int
    last_data: int  # the largest private memory (VmData) of a process in the tree, at the last sample
    data_cap: int
    isolation: dict[str, Any]
    limits: dict[str, Any]

    @property
    def result(self) -> dict[str, Any] | None:
        for line in reversed(self.lines):
            if isinstance(line.get("result"), dict):
                return line["result"]
        return None

    @property
    def phase(self) -> str | None:
        phases = [line["phase"] for line in self.lines if isinstance(line.get("phase"), str)]
        return phases[-1] if phases else None


class Child:
    """The sandboxed runner: started at construction; `wait` bounds it by the limits."""

    def __init__(self, command: SandboxCommand, limits: SmokeLimits, data_cap: int, notes: dict[str, str]) -> None:
        self.command = command
        self.limits = limits
        self.data_cap = data_cap
        self.limit_notes = notes
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(command.argv, env=command.env, stdin=subprocess.DEVNULL, stdout=self._out,
                                         stderr=self._err, start_new_session=True, close_fds=True)
        except OSError:
            self._cleanup()
            raise

    def _kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            pass

    def wait(self) -> Finished:
        deadline = self.started + float(self.limits.timeout_s)
        timed_out = memory_killed = False
        peak = data = 0
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    self._kill()
                    break
                try:
                    self.proc.wait(timeout=min(POLL_S, remaining))
                    break
                except subprocess.TimeoutExpired:
                    pass
                rss, data = _tree_memory(self.proc.pid)
                peak = max(peak, rss)
                if rss > self.limits.memory_bytes:
                    memory_killed = True
                    self._kill()
                    break
        finally:
            if self.proc.poll() is None:
                self._kill()
        wall = time.monotonic() - self.started
        lines = _parse_lines(self._read(self._out, 1024 * 1024, head=True))
        stderr = self._read(self._err, STDERR_TAIL * 4)
        self._cleanup()
        return Finished(returncode=self.proc.returncode, lines=lines, stderr=stderr, wall_seconds=wall, timed_out=timed_out,
                        memory_killed=memory_killed, peak_tree_rss=peak, last_data=data, data_cap=self.data_cap,
                        isolation=self.command.isolation, limits=self.limit_notes)

    @staticmethod
    def _read(f: Any, limit: int, head: bool = False) -> str:
        f.flush()
        size = f.seek(0, os.SEEK_END)
        f.seek(0 if head else max(0, size - limit))
        return f.read(limit).decode("utf-8", "replace")

    def _cleanup(self) -> None:
        for f in (self._out, self._err):
            f.close()
        for path in self.command.cleanup:
            shutil.rmtree(path, ignore_errors=True)


def _parse_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return out


def _tree_memory(root: int) -> tuple[int, int]:
    """Resident memory of the process tree under `root`, summed, and the largest private data
    size (statm's data: VmData + stack) of one process in it, which RLIMIT_DATA bounds."""
    total, data, stack, seen = 0, 0, [root], set()
    page = resource.getpagesize()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/statm") as f:
                fields = f.read().split()
            total += int(fields[1]) * page
            data = max(data, int(fields[5]) * page)
        except (OSError, ValueError, IndexError):
            continue
        stack += _children(pid)
    return total, data


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _cause(stderr: str) -> str | None:
    """The most telling line of the child's stderr."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for pattern in (MEMORY_PATTERN, ERROR_PATTERN, CAUSE_PATTERN):
        for line in reversed(lines):
            if pattern.search(line) and not line.startswith("Traceback"):
                return line[:400]
    return lines[-1][:400] if lines else None


def _outcome(outcome: SmokeOutcome, finished: Finished, limits: SmokeLimits) -> SmokeOutcome:
    result = finished.result
    phase = finished.phase
    where = PHASES.get(phase or "", "starting")
    stderr_tail = finished.stderr[-STDERR_TAIL:]
    outcome.details.update({"isolation": finished.isolation, "limits": finished.limits, "phase": phase,
                            "wall_seconds": round(finished.wall_seconds, 3), "exit_code": finished.returncode,
                            "watchdog_peak_rss_bytes": finished.peak_tree_rss})
    memory = _gib(limits.memory_bytes)
    applied = next((line["limits"] for line in finished.lines if isinstance(line.get("limits"), dict)), None)
    if applied is not None:
        outcome.details["applied_limits"] = applied
    if result is not None:
        if result.get("loaded_by"):
            outcome.loaded_by = str(result["loaded_by"])
        for key in ("load_seconds", "inference_seconds"):
            if isinstance(result.get(key), (int, float)):
                setattr(outcome, key, round(float(result[key]), 4))
        if isinstance(result.get("peak_memory_bytes"), int):
            outcome.peak_memory_bytes = result["peak_memory_bytes"]
        shape = result.get("output_shape")
        if isinstance(shape, list) and all(isinstance(x, int) for x in shape):
            outcome.output_shape = shape
        if isinstance(result.get("import_seconds"), (int, float)):
            outcome.details["import_seconds"] = round(float(result["import_seconds"]), 4)
        if isinstance(result.get("details"), dict):
            outcome.details["runner"] = result["details"]

    def fail(kind: str, message: str, hint: str | None = None) -> SmokeOutcome:
        outcome.passed, outcome.failure, outcome.message, outcome.hint = False, kind, message, hint  # type: ignore[assignment]
        if stderr_tail.strip():
            outcome.details["stderr_tail"] = stderr_tail
        return outcome

    oom_hint = "give the smoke test more memory, or check that the model is the size it claims"
    if finished.timed_out and finished.last_data >= CAP_NEAR * finished.data_cap:
        return fail("oom", f"out of memory: no result within the {limits.timeout_s:g} s time limit, and the private memory "
                           f"sat at its {_gib(finished.data_cap)} cap while {where} (the memory limit is {memory}): "
                           "a library kept retrying a failed allocation", oom_hint)
    if finished.timed_out:
        return fail("timeout", f"no result within the {limits.timeout_s:g} s time limit: killed while {where}",
                    "give the smoke test more time, or check that the model is the size it claims")
    if finished.memory_killed:
        return fail("oom", f"out of memory: the sandbox's resident memory passed the {memory} limit while {where} "
                           f"(killed at {_gib(finished.peak_tree_rss, 1)})", oom_hint)
    if result is not None:
        failure = result.get("failure")
        message = str(result.get("message") or "")
        if result.get("ok") and failure is None:
            peak = outcome.peak_memory_bytes or 0
            if peak > limits.memory_bytes:
                return fail("oom", f"out of memory: peak resident memory {_gib(peak, 1)} is over the {memory} limit", oom_hint)
            outcome.passed, outcome.message = True, message or "loaded and ran one inference"
            return outcome
        if failure in ("refused", "crashed", "sandbox") and (MEMORY_PATTERN.search(stderr_tail) or MEMORY_PATTERN.search(message)):
            failure = "oom"
        if failure == "oom":
            cause = _cause(stderr_tail)
            detail = message if MEMORY_PATTERN.search(message) or not cause else f"{message} ({cause})"
            return fail("oom", f"out of memory under the {memory} limit while {where}: {detail}", oom_hint)
        if failure == "refused":
            cause = _cause(stderr_tail)
            if cause and cause not in message:
                message = f"{message} (the runtime said: {cause})"
            return fail("refused", message, "the weights may be truncated or corrupt: validate the revision, "
                                            "or re-export the model")
        if failure == "bad-output":
            return fail("bad-output", message, "the model loads but its output is unusable: check the export")
        if failure == "sandbox":
            return fail("sandbox", message, "the runtime cannot start inside the sandbox")
        return fail("crashed", f"the runtime failed while {where}: {message}")
    code = finished.returncode
    signum = -code if code is not None and code < 0 else (code - 128 if code is not None and code > 128 else None)
    how = f"was killed by {_signal_name(signum)}" if signum else f"exited with status {code}"
    cause = _cause(stderr_tail)
    if MEMORY_PATTERN.search(stderr_tail):
        return fail("oom", f"out of memory under the {memory} limit while {where}: the runner {how} ({cause})", oom_hint)
    if signum == signal.SIGXCPU:
        return fail("timeout", f"the CPU time limit ({_cpu_seconds(limits)} s "
                               f"of CPU for a {limits.timeout_s:g} s limit) ran out while {where}")
    if signum == signal.SIGKILL:
        return fail("oom", f"out of memory (most likely): the runner was killed by SIGKILL while {where}, as the kernel's "
                           f"out-of-memory killer does; the limit was {memory}", oom_hint)
    if phase is None and (stderr_tail.lstrip().startswith(("bwrap:", "unshare:", "setpriv:", "unshare sandbox:"))
                          or code in (125, 126, 127)):
        return fail("sandbox", f"the sandbox did not start: {cause or how}",
                    "check that bubblewrap works here (bwrap --unshare-all --ro-bind / / true)")
    return fail("crashed", f"the runner {how} while {where}" + (f": {cause}" if cause else ""))
