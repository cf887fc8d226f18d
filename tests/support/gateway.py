"""A real OpenAI-compatible server on 127.0.0.1: llama.cpp's, from llama-cpp-python[server]."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.registry import free_port

STARTUP_S = 60.0


@dataclass
class OpenAIServer:
    url: str  # base URL, ends in /v1
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_llama_server(model: Path, alias: str, workdir: Path, api_key: str | None = None) -> OpenAIServer:
    """`python -m llama_cpp.server` serving `model` as `alias`; returns once /v1/models answers."""
    port = free_port()
    log = workdir / f"llama-server-{port}.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
               "--port", str(port), "--model_alias", alias, "--n_ctx", "128"]
    if api_key:
        command += ["--api_key", api_key]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama.cpp server exited with {process.returncode}: {log.read_text()[-3000:]}")
        request = urllib.request.Request(url + "/models", headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                json.loads(response.read())
                return OpenAIServer(url, process, log)
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"llama.cpp server did not answer within {STARTUP_S} s: {log.read_text()[-3000:]}")
