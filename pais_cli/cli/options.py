"""Option types shared by every command. Long flags accept the vcf spelling and kebab-case;
metavars say what a value is (NAME, TAG, DIR, SIZE, SECONDS); gallery, model and tag values
complete in the shell (pais_cli.cli.complete, imported only while completing)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer


def _galleries(ctx: Any, incomplete: str) -> list[tuple[str, str]]:
    from .complete import galleries

    return galleries(incomplete)


def _models(ctx: Any, incomplete: str) -> list[str]:
    from .complete import models

    return models(ctx, incomplete)


def _tags(ctx: Any, incomplete: str) -> list[str]:
    from .complete import tags

    return tags(ctx, incomplete)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


_MODEL_HELP = ("Model, with the revision if you like: NAME, NAME:TAG or NAME@sha256:...; for a registry "
               "also HOST[:PORT]/PROJECT/NAME:TAG, where the first part after the host is the project "
               "(Harbor's rule) and the rest the model.")
ModelNameOpt = Annotated[str, typer.Option("--modelName", "--model-name", "-m", metavar="MODEL[:TAG]",
                                           help=_MODEL_HELP, autocompletion=_models)]
OptionalModelNameOpt = Annotated[
    Optional[str], typer.Option("--modelName", "--model-name", "-m", metavar="MODEL[:TAG]", help=_MODEL_HELP,
                                autocompletion=_models)
]
ModelStoreOpt = Annotated[
    Optional[str],
    typer.Option(
        "--modelStore",
        "--model-store",
        "-s",
        metavar="GALLERY",
        help="Gallery: HOST[:PORT]/PROJECT, a path (/, ./, ../, ~, oci:), or a named gallery. "
        "Default: $PAIS_MODEL_STORE, else the embedded default gallery.",
        autocompletion=_galleries,
    ),
]
TagOpt = Annotated[Optional[str], typer.Option("--tag", "-t", metavar="TAG", help="Revision tag, e.g. approved or v1.",
                                               autocompletion=_tags)]
TagsOpt = Annotated[Optional[list[str]], typer.Option("--tag", "-t", metavar="TAG",
                                                      help="Tag for the revision; repeat for several.")]
DigestOpt = Annotated[Optional[str], typer.Option("--digest", "-d", metavar="DIGEST", help="Revision digest, sha256:...")]
OutputOpt = Annotated[OutputFormat, typer.Option("--output", "-o", metavar="FORMAT",
                                                 help="table (for people; tab-separated on a pipe) or json "
                                                      "(stable, for scripts; docs/schemas).")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks and protocol details on errors.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only the result and errors: no notes, no progress.")]
CaFileOpt = Annotated[Optional[Path], typer.Option("--ca-file", metavar="PEM",
                                                   help="PEM bundle to trust for the registry's TLS certificate.")]
PlainHttpOpt = Annotated[bool, typer.Option("--plain-http", help="Talk plain HTTP to a non-loopback registry (trusted networks only).")]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, max=32, metavar="N", help="Files transferred in parallel.")]
ConnectTimeoutOpt = Annotated[float, typer.Option("--connect-timeout", min=0.1, metavar="SECONDS",
                                                  help="Seconds to wait for a connection to the registry.")]
StallTimeoutOpt = Annotated[float, typer.Option("--stall-timeout", min=0.1, metavar="SECONDS",
                                                help="Seconds without a byte received (headers or body) before a request counts as stalled.")]
RetriesOpt = Annotated[int, typer.Option("--retries", min=0, max=20, metavar="N",
                                         help="Retries of a request or blob after a transient failure (connection, stall, 429, 5xx).")]
ChunkSizeOpt = Annotated[str, typer.Option("--chunk-size", metavar="SIZE",
                                           help="Largest upload chunk (one PATCH each, resumable; smaller on a slow link), "
                                                "e.g. 8MiB; 0 uploads each file in one request.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Say more: each retry, with its reason, and each step.")]
FlavorOpt = Annotated[
    Optional[str], typer.Option("--flavor", metavar="FLAVOR",
                                help="Media type names to write: cncf (current) or cnai (Harbor 2.13-2.15 model view).")
]


class ReportFormat(str, Enum):
    table = "table"
    json = "json"
    sarif = "sarif"


ReportOutputOpt = Annotated[ReportFormat, typer.Option("--output", "-o", metavar="FORMAT", help="table, json (the report) or sarif (SARIF 2.1.0).")]
SkipOpt = Annotated[
    Optional[list[str]],
    typer.Option("--skip", metavar="CHECK", help="Skip a check (integrity, malware, serialization, format); recorded in the report. Repeatable."),
]
ChecksumsOpt = Annotated[Optional[Path], typer.Option("--checksums", metavar="FILE", help="sha256sum-style list to verify files against (default: SHA256SUMS in the model).")]
ClamdOpt = Annotated[
    Optional[list[str]],
    typer.Option("--clamd", metavar="ADDRESS", help="clamd address: unix:///PATH or tcp://HOST:PORT, optionally ?window=SIZE&jobs=N; "
                                 "repeat for a pool (default: $PAIS_CLAMD, comma-separated, else the system clamd.conf)."),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Run every check again; use and keep no cached result.")]
TrustGalleryReportsOpt = Annotated[
    bool, typer.Option("--trust-gallery-reports",
                       help="Let a passing report the gallery holds for this exact revision seed the result cache.")]
ClamdWindowOpt = Annotated[
    Optional[str], typer.Option("--clamd-window", metavar="SIZE", help="Bytes clamd scans per stream, e.g. 100MiB (default: from clamd.conf or calibration).")
]
AllowRemoteCodeOpt = Annotated[bool, typer.Option("--allow-remote-code", help="Accept .py files and auto_map (transformers would run them).")]
AllowCodeOpt = Annotated[
    Optional[list[str]],
    typer.Option("--allow-code", metavar="PATH", help="Accept this binary, script or install file in the model (a path, directory/ "
                 "or glob, relative to the model); recorded in the report. Repeatable."),
]
ReportFileOpt = Annotated[Optional[Path], typer.Option("--report", metavar="FILE", help="Also write the JSON report to this file.")]
SandboxOpt = Annotated[
    Optional[str],
    typer.Option("--sandbox", metavar="SANDBOX", help="Smoke test sandbox: auto, container, local or none (default: $PAIS_SANDBOX, else auto)."),
]
TargetOpt = Annotated[Optional[str], typer.Option("--target", metavar="TARGET", help="Where it will be served: gpu or cpu (default: gpu when this machine has one).")]
RequireSmokeOpt = Annotated[bool, typer.Option("--require-smoke", help="Fail when the smoke test cannot run here (default: the gallery's setting).")]
SmokeTimeoutOpt = Annotated[float, typer.Option("--smoke-timeout", metavar="SECONDS", help="Seconds for loading plus one inference.")]
SmokeMemoryOpt = Annotated[str, typer.Option("--smoke-memory", metavar="SIZE", help="Memory limit of the sandbox, e.g. 4GiB.")]
DockerHostOpt = Annotated[Optional[str], typer.Option("--docker-host", metavar="URL", help="Docker or Podman API socket (default: $DOCKER_HOST).")]
EngineImageOpt = Annotated[Optional[str], typer.Option("--engine-image", metavar="IMAGE", help="Engine image for the container sandbox.")]
RequireValidatedOpt = Annotated[
    Optional[bool],
    typer.Option("--require-validated/--no-require-validated",
                 help="Refuse a revision without a passing validation report (default: the gallery's setting; "
                      "for promote, on when the destination is a production gallery)."),
]
AllowNoWeightsOpt = Annotated[bool, typer.Option(
    "--allow-no-weights", help="Accept a directory without weights (a tokenizer-only repository); recorded in the report.")]
