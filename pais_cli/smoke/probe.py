"""Check the sandbox itself: from inside, try to reach a TCP listener and to write into the model
directory. Both must fail in the sandbox; the same probe as a plain subprocess (the positive
control) must succeed at both, or the check proves nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .contract import SmokeLimits
from .local import RUNNER, LocalSandbox


@dataclass
class ProbeResult:
    sandboxed: bool
    connected: bool
    connect_error: str | None
    wrote: bool
    write_error: str | None
    exit_code: int | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def contained(self) -> bool:
        """Neither the network nor the model directory was reachable."""
        return not self.connected and not self.wrote

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "contained": self.contained}


def _result(data: dict[str, Any] | None, sandboxed: bool, code: int | None, stderr: str, extra: dict[str, Any]) -> ProbeResult:
    if data is None:
        raise RuntimeError(f"the probe returned no result (exit {code}): {stderr.strip()[-800:]}")
    connect, write = data.get("connect") or {}, data.get("write") or {}
    return ProbeResult(sandboxed, bool(connect.get("ok")), connect.get("error"), bool(write.get("ok")), write.get("error"),
                       code, {"uid": data.get("uid"), **extra})


def run_probe(model_dir: Path, connect: str, sandboxed: bool = True, sandbox: LocalSandbox | None = None,
              timeout_s: float = 60.0) -> ProbeResult:
    """Run the probe against `connect` ("127.0.0.1:PORT") and `model_dir`, in the local sandbox
    (`sandboxed=True`) or as a plain child process (the positive control)."""
    spec = {"mode": "probe", "connect": connect, "connect_timeout": 3.0}
    if not sandboxed:
        spec["write_dir"] = str(Path(model_dir).resolve())
        done = subprocess.run([sys.executable, "-I", str(RUNNER), json.dumps(spec)], capture_output=True, text=True,
                              timeout=timeout_s, stdin=subprocess.DEVNULL)
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        data = next((line["result"] for line in reversed(lines) if "result" in line), None)
        return _result(data, False, done.returncode, done.stderr, {})
    sandbox = sandbox or LocalSandbox()
    finished = sandbox.spawn(Path(model_dir), spec, SmokeLimits(timeout_s=timeout_s)).wait()  # writes to spec's model_path
    return _result(finished.result, True, finished.returncode, finished.stderr, {"isolation": finished.isolation})
