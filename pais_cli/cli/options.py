"""Option types shared by every command. Long flags accept the vcf spelling and kebab-case."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


ModelNameOpt = Annotated[str, typer.Option("--modelName", "--model-name", "-m", help="Model name, e.g. baai/bge-small-en-v1.5.")]
OptionalModelNameOpt = Annotated[
    Optional[str], typer.Option("--modelName", "--model-name", "-m", help="Only this model, e.g. baai/bge-small-en-v1.5.")
]
ModelStoreOpt = Annotated[
    Optional[str],
    typer.Option(
        "--modelStore",
        "--model-store",
        "-s",
        help="Gallery: HOST[:PORT]/PROJECT, a path (/, ./, ../, ~, oci:), or a named gallery. "
        "Default: $PAIS_MODEL_STORE, else the embedded default gallery.",
    ),
]
TagOpt = Annotated[Optional[str], typer.Option("--tag", "-t", help="Revision tag, e.g. approved or v1.")]
TagsOpt = Annotated[Optional[list[str]], typer.Option("--tag", "-t", help="Tag for the revision; repeat for several.")]
DigestOpt = Annotated[Optional[str], typer.Option("--digest", "-d", help="Revision digest, sha256:...")]
OutputOpt = Annotated[OutputFormat, typer.Option("--output", "-o", help="table (for people) or json (stable, for scripts).")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks and protocol details on errors.")]
CaFileOpt = Annotated[Optional[Path], typer.Option("--ca-file", help="PEM bundle to trust for the registry's TLS certificate.")]
PlainHttpOpt = Annotated[bool, typer.Option("--plain-http", help="Talk plain HTTP to a non-loopback registry (trusted networks only).")]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, max=32, help="Files transferred in parallel.")]
ConnectTimeoutOpt = Annotated[float, typer.Option("--connect-timeout", min=0.1, help="Seconds to wait for a connection to the registry.")]
StallTimeoutOpt = Annotated[float, typer.Option("--stall-timeout", min=0.1, help="Seconds without a byte received (headers or body) before a request counts as stalled.")]
RetriesOpt = Annotated[int, typer.Option("--retries", min=0, max=20, help="Retries of a request or blob after a transient failure (connection, stall, 429, 5xx).")]
ChunkSizeOpt = Annotated[str, typer.Option("--chunk-size", help="Upload chunk (one PATCH each, resumable), e.g. 8MiB; 0 uploads each file in one request.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Say more: each retry, with its reason.")]
FlavorOpt = Annotated[
    Optional[str], typer.Option("--flavor", help="Media type names to write: cncf (current) or cnai (Harbor 2.13-2.15 model view).")
]


class ReportFormat(str, Enum):
    table = "table"
    json = "json"
    sarif = "sarif"


ReportOutputOpt = Annotated[ReportFormat, typer.Option("--output", "-o", help="table, json (the report) or sarif (SARIF 2.1.0).")]
SkipOpt = Annotated[
    Optional[list[str]],
    typer.Option("--skip", help="Skip a check (integrity, malware, serialization, format); recorded in the report. Repeatable."),
]
ChecksumsOpt = Annotated[Optional[Path], typer.Option("--checksums", help="sha256sum-style list to verify files against (default: SHA256SUMS in the model).")]
ClamdOpt = Annotated[
    Optional[list[str]],
    typer.Option("--clamd", help="clamd address: unix:///PATH or tcp://HOST:PORT, optionally ?window=SIZE&jobs=N; "
                                 "repeat for a pool (default: $PAIS_CLAMD, comma-separated, else the system clamd.conf)."),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Run every check again; use and keep no cached result.")]
TrustGalleryReportsOpt = Annotated[
    bool, typer.Option("--trust-gallery-reports",
                       help="Let a passing report the gallery holds for this exact revision seed the result cache.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]
ClamdWindowOpt = Annotated[
    Optional[str], typer.Option("--clamd-window", help="Bytes clamd scans per stream, e.g. 100MiB (default: from clamd.conf or calibration).")
]
AllowRemoteCodeOpt = Annotated[bool, typer.Option("--allow-remote-code", help="Accept .py files and auto_map (transformers would run them).")]
AllowCodeOpt = Annotated[
    Optional[list[str]],
    typer.Option("--allow-code", help="Accept this binary, script or install file in the model (a path, directory/ "
                 "or glob, relative to the model); recorded in the report. Repeatable."),
]
ReportFileOpt = Annotated[Optional[Path], typer.Option("--report", help="Also write the JSON report to this file.")]
SandboxOpt = Annotated[
    Optional[str],
    typer.Option("--sandbox", help="Smoke test sandbox: auto, container, local or none (default: $PAIS_SANDBOX, else auto)."),
]
TargetOpt = Annotated[Optional[str], typer.Option("--target", help="Where it will be served: gpu or cpu (default: gpu when this machine has one).")]
RequireSmokeOpt = Annotated[bool, typer.Option("--require-smoke", help="Fail when the smoke test cannot run here (default: the gallery's setting).")]
SmokeTimeoutOpt = Annotated[float, typer.Option("--smoke-timeout", help="Seconds for loading plus one inference.")]
SmokeMemoryOpt = Annotated[str, typer.Option("--smoke-memory", help="Memory limit of the sandbox, e.g. 4GiB.")]
DockerHostOpt = Annotated[Optional[str], typer.Option("--docker-host", help="Docker or Podman API socket (default: $DOCKER_HOST).")]
EngineImageOpt = Annotated[Optional[str], typer.Option("--engine-image", help="Engine image for the container sandbox.")]
RequireValidatedOpt = Annotated[
    Optional[bool],
    typer.Option("--require-validated/--no-require-validated",
                 help="Refuse a revision without a passing validation report (default: the gallery's setting; "
                      "for promote, on when the destination is a production gallery)."),
]
