"""`pais models ...`: push, pull and list model revisions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..app import download as downloads
from ..app import promote as promotion
from ..app import revisions, transfer
from ..app import validate as validation
from ..app.galleries import open_gallery
from ..errors import UsageError, ValidationFailed
from ..gallery.reference import RevisionRef
from . import settings
from ..gallery.network import DEFAULT_CONNECT_TIMEOUT, DEFAULT_RETRIES, DEFAULT_STALL_TIMEOUT
from .options import (
    AllowCodeOpt,
    AllowRemoteCodeOpt,
    ChunkSizeOpt,
    ConnectTimeoutOpt,
    NoCacheOpt,
    QuietOpt,
    TrustGalleryReportsOpt,
    RetriesOpt,
    StallTimeoutOpt,
    VerboseOpt,
    CaFileOpt,
    ChecksumsOpt,
    ClamdOpt,
    ClamdWindowOpt,
    DebugOpt,
    DigestOpt,
    DockerHostOpt,
    EngineImageOpt,
    FlavorOpt,
    JobsOpt,
    ModelNameOpt,
    ModelStoreOpt,
    OptionalModelNameOpt,
    OutputFormat,
    OutputOpt,
    PlainHttpOpt,
    ReportFileOpt,
    ReportFormat,
    ReportOutputOpt,
    RequireSmokeOpt,
    RequireValidatedOpt,
    SandboxOpt,
    SkipOpt,
    SmokeMemoryOpt,
    SmokeTimeoutOpt,
    TagOpt,
    TagsOpt,
    TargetOpt,
)
from .output import command, human_size, network_policy
from .report import SmokeFlags, check_options, print_report, render_report

app = typer.Typer(help="Push, pull and list models in a gallery.", no_args_is_help=True)


def _short(digest: str) -> str:
    return digest[:19]


def validation_label(validated: bool, verdict: str) -> str:
    """One wording for list and inspect: a passing report that does not count (a check was
    skipped, or it covers other files) is not shown as a pass."""
    if validated:
        return "validated"
    return "unvalidated" if verdict in ("pass", "unvalidated") else verdict


@app.command()
def push(
    model_name: ModelNameOpt,
    directory: Annotated[Path, typer.Argument(help="Model directory (default: the current directory).")] = Path("."),
    model_store: ModelStoreOpt = None,
    tag: TagsOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Move a tag that names another revision.")] = False,
    include_hidden: Annotated[bool, typer.Option("--include-hidden", help="Also push hidden files and directories.")] = False,
    skip_validation: Annotated[bool, typer.Option("--skip-validation", help="Push without validating; the revision is marked unvalidated.")] = False,
    skip: SkipOpt = None,
    checksums: ChecksumsOpt = None,
    clamd: ClamdOpt = None,
    clamd_window: ClamdWindowOpt = None,
    allow_remote_code: AllowRemoteCodeOpt = False,
    allow_code: AllowCodeOpt = None,
    sandbox: SandboxOpt = None,
    target: TargetOpt = None,
    require_smoke: RequireSmokeOpt = False,
    smoke_timeout: SmokeTimeoutOpt = 300.0,
    smoke_memory: SmokeMemoryOpt = "4GiB",
    docker_host: DockerHostOpt = None,
    engine_image: EngineImageOpt = None,
    report_file: ReportFileOpt = None,
    flavor: FlavorOpt = None,
    no_cache: NoCacheOpt = False,
    trust_gallery_reports: TrustGalleryReportsOpt = False,
    quiet: QuietOpt = False,
    jobs: JobsOpt = 4,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    stall_timeout: StallTimeoutOpt = DEFAULT_STALL_TIMEOUT,
    retries: RetriesOpt = DEFAULT_RETRIES,
    chunk_size: ChunkSizeOpt = "8MiB",
    verbose: VerboseOpt = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Validate a model directory, then upload it as a ModelPack revision; only blobs the gallery lacks travel."""
    with command(output, debug) as out:
        ctx = settings.context()
        network = network_policy(out, connect_timeout, stall_timeout, retries, chunk_size, verbose)
        gallery = open_gallery(ctx, model_store, ca_file=ca_file, plain_http=plain_http, flavor=flavor, network=network)
        out.note(f"using gallery {gallery.description}")
        if skip_validation:
            out.note("warning: --skip-validation: the revision will be stored UNVALIDATED and pulls that require validation refuse it")

        def on_report(report) -> None:  # type: ignore[no-untyped-def]
            print_report(out, report, stderr=True)
            if report_file:
                report_file.write_text(json.dumps(report.to_json(), indent=2) + "\n")

        try:
            with out.progress("push", quiet) as progress:
                result = transfer.push_model(
                    ctx, gallery, directory, model_name, tag or [], force=force, include_hidden=include_hidden, jobs=jobs,
                    progress=progress, skip_validation=skip_validation, on_report=on_report, check_progress=progress,
                    checks=check_options(
                        skip, checksums, clamd, clamd_window, allow_remote_code, jobs,
                        SmokeFlags(sandbox, target, require_smoke, smoke_timeout, smoke_memory, docker_host, engine_image),
                        gallery.settings.require_smoke, include_hidden, allow_code, no_cache, trust_gallery_reports),
                )
        except ValidationFailed as exc:
            if out.json and exc.report is not None:
                out.data({"error": exc.message, "report": exc.report.to_json()})  # type: ignore[attr-defined]
            raise
        if result.skipped:
            out.note(f"left out (hidden): {', '.join(result.skipped)}; use --include-hidden to push them")
        if not result.validated:
            out.note(f"warning: {result.note}")
        out.emit(result.to_json(), lambda: out.fields([
            ("model", result.model),
            ("digest", result.digest),
            ("tags", ", ".join(result.tags)),
            ("files", str(result.files)),
            ("size", human_size(result.bytes_total)),
            ("uploaded", f"{human_size(result.bytes_uploaded)} in {result.blobs_uploaded} blobs "
                         f"({result.blobs_present} already there)"),
            ("validated", "yes" if result.validated else f"no ({result.note})"),
            ("report", result.report_digest or "-"),
        ]))


@app.command()
def pull(
    model_name: ModelNameOpt,
    model_store: ModelStoreOpt = None,
    tag: TagOpt = None,
    digest: DigestOpt = None,
    dest: Annotated[Optional[Path], typer.Option("--dest", help="Directory to write the model to (default: ./<model>).")] = None,
    require_validated: RequireValidatedOpt = None,
    jobs: JobsOpt = 4,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    stall_timeout: StallTimeoutOpt = DEFAULT_STALL_TIMEOUT,
    retries: RetriesOpt = DEFAULT_RETRIES,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Download a revision by tag or digest, verified byte for byte; never an implicit latest."""
    with command(output, debug) as out:
        ctx = settings.context()
        ref = RevisionRef.from_options(tag, digest)
        network = network_policy(out, connect_timeout, stall_timeout, retries, None, verbose)
        gallery = open_gallery(ctx, model_store, ca_file=ca_file, plain_http=plain_http, network=network)
        out.note(f"using gallery {gallery.description}")
        with out.progress("pull", quiet) as progress:
            result = transfer.pull_model(ctx, gallery, model_name, ref, dest, jobs=jobs, progress=progress,
                                    require_validated=require_validated)
        out.emit(result.to_json(), lambda: out.fields([
            ("model", result.model),
            ("digest", result.digest),
            ("path", result.path),
            ("files", str(result.files)),
            ("downloaded", f"{human_size(result.bytes_downloaded)} of {human_size(result.bytes_total)}"),
        ]))


@app.command("list")
def list_(
    model_store: ModelStoreOpt = None,
    model_name: OptionalModelNameOpt = None,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """One row per revision of every model in the gallery (or of one model)."""
    with command(output, debug) as out:
        ctx = settings.context()
        gallery = open_gallery(ctx, model_store, ca_file=ca_file, plain_http=plain_http)
        out.note(f"using gallery {gallery.description}")
        found = revisions.list_revisions(gallery, model_name)
        out.emit([r.to_json() for r in found], lambda: out.table(
            ["MODEL", "DIGEST", "TAGS", "SIZE", "FILES", "VALIDATION"],
            [[r.model, _short(r.digest), ",".join(r.tags) or "-", human_size(r.size), str(r.files),
              validation_label(r.validated, r.verdict)] for r in found],
        ))


@app.command()
def validate(
    directory: Annotated[Optional[Path], typer.Argument(help="Model directory (default: the current directory).")] = None,
    model_name: OptionalModelNameOpt = None,
    model_store: ModelStoreOpt = None,
    tag: TagOpt = None,
    digest: DigestOpt = None,
    skip: SkipOpt = None,
    checksums: ChecksumsOpt = None,
    clamd: ClamdOpt = None,
    clamd_window: ClamdWindowOpt = None,
    allow_remote_code: AllowRemoteCodeOpt = False,
    allow_code: AllowCodeOpt = None,
    sandbox: SandboxOpt = None,
    target: TargetOpt = None,
    require_smoke: RequireSmokeOpt = False,
    smoke_timeout: SmokeTimeoutOpt = 300.0,
    smoke_memory: SmokeMemoryOpt = "4GiB",
    docker_host: DockerHostOpt = None,
    engine_image: EngineImageOpt = None,
    include_hidden: Annotated[bool, typer.Option("--include-hidden", help="Also check hidden files and directories.")] = False,
    report_file: ReportFileOpt = None,
    no_cache: NoCacheOpt = False,
    quiet: QuietOpt = False,
    jobs: JobsOpt = 4,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    stall_timeout: StallTimeoutOpt = DEFAULT_STALL_TIMEOUT,
    retries: RetriesOpt = DEFAULT_RETRIES,
    verbose: VerboseOpt = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: ReportOutputOpt = ReportFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Check a model directory, or re-check a stored revision and attach the new report to it."""
    with command(OutputFormat.json if output != ReportFormat.table else OutputFormat.table, debug) as out:
        ctx = settings.context()
        flags = SmokeFlags(sandbox, target, require_smoke, smoke_timeout, smoke_memory, docker_host, engine_image)
        options = check_options(skip, checksums, clamd, clamd_window, allow_remote_code, jobs, flags,
                                include_hidden=include_hidden, allow_code=allow_code, no_cache=no_cache)
        stored = tag is not None or digest is not None or model_store is not None
        if stored:
            if directory is not None or not model_name:
                raise UsageError("give either a DIR, or a stored revision",
                                 "pais models validate DIR, or pais models validate --modelName N --modelStore S --tag T")
            ref = RevisionRef.from_options(tag, digest)
            network = network_policy(out, connect_timeout, stall_timeout, retries, None, verbose)
            gallery = open_gallery(ctx, model_store, ca_file=ca_file, plain_http=plain_http, network=network)
            out.note(f"using gallery {gallery.description}")
            options.smoke.require = options.smoke.require or gallery.settings.require_smoke
            with out.progress("fetch", quiet) as progress:
                result = validation.validate_revision(ctx, gallery, model_name, ref, options, progress=progress,
                                                      check_progress=progress)
            out.note(f"report attached to {model_name}@{result.digest} as {result.report_digest}")
        else:
            with out.progress("validate", quiet) as progress:
                result = validation.validate_directory(ctx, directory or Path("."), options, model_name, progress)
        if report_file:
            report_file.write_text(json.dumps(result.report.to_json(), indent=2) + "\n")
        render_report(out, result.report, output)
        if result.report.verdict != "pass":
            raise typer.Exit(1)
        if not result.validated:
            out.note(f"note: passing, but would not count as validated: {result.reason}")


@app.command()
def promote(
    model_name: ModelNameOpt,
    source: Annotated[str, typer.Option("--from", help="Source gallery (store or named gallery).")],
    destination: Annotated[str, typer.Option("--to", help="Destination gallery (store or named gallery).")],
    tag: TagOpt = None,
    digest: DigestOpt = None,
    as_tag: Annotated[Optional[str], typer.Option("--as-tag", help="Tag in the destination (default: the same tag).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Move a destination tag that names another revision.")] = False,
    convert_flavor: Annotated[bool, typer.Option("--convert-flavor", help="Rewrite to the destination's flavour (new digest).")] = False,
    require_validated: RequireValidatedOpt = None,
    jobs: JobsOpt = 4,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    stall_timeout: StallTimeoutOpt = DEFAULT_STALL_TIMEOUT,
    retries: RetriesOpt = DEFAULT_RETRIES,
    chunk_size: ChunkSizeOpt = "8MiB",
    verbose: VerboseOpt = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Copy a revision, its blobs and its validation reports from one gallery to another."""
    with command(output, debug) as out:
        ctx = settings.context()
        ref = RevisionRef.from_options(tag, digest)
        network = network_policy(out, connect_timeout, stall_timeout, retries, chunk_size, verbose)
        src = open_gallery(ctx, source, ca_file=ca_file, plain_http=plain_http, network=network)
        dst = open_gallery(ctx, destination, ca_file=ca_file, plain_http=plain_http, network=network)
        out.note(f"from {src.description}\nto   {dst.description}")
        with out.progress("promote") as progress:
            result = promotion.promote_model(src, dst, model_name, ref, as_tag, force=force, convert=convert_flavor,
                                   require_validated=require_validated, jobs=jobs, progress=progress)
        out.emit(result.to_json(), lambda: out.fields([
            ("model", result.model),
            ("digest", result.digest + (f" (converted from {result.source_digest})" if result.converted else "")),
            ("tag", result.tag),
            ("copied", f"{human_size(result.bytes_copied)} in {result.blobs_copied} blobs, {result.blobs_mounted} mounted, "
                       f"{result.blobs_present} already there"),
            ("reports", f"{result.reports_copied} copied"),
            ("validated", "yes" if result.validated else "no"),
        ]))


@app.command()
def inspect(
    model_name: ModelNameOpt,
    model_store: ModelStoreOpt = None,
    tag: TagOpt = None,
    digest: DigestOpt = None,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Files, ModelPack config, tags and validation state of one revision."""
    with command(output, debug) as out:
        ctx = settings.context()
        ref = RevisionRef.from_options(tag, digest)
        gallery = open_gallery(ctx, model_store, ca_file=ca_file, plain_http=plain_http)
        out.note(f"using gallery {gallery.description}")
        result = revisions.inspect_revision(gallery, model_name, ref)

        def render() -> None:
            out.fields([
                ("model", result.model), ("digest", result.digest), ("tags", ", ".join(result.tags) or "-"),
                ("flavor", result.flavor), ("size", human_size(result.size)),
                ("config", json.dumps(result.config.get("config", {}))),
                ("validation", "validated" if result.validated
                 else f"{validation_label(False, result.verdict)} ({result.validation_reason})"),
                ("reports", str(result.reports)),
            ])
            if result.report:
                out.fields([("checks", ", ".join(f"{k} {v}" for k, v in result.report["checks"].items()))])
            out.table(["PATH", "SIZE", "KIND", "DIGEST"],
                      [[f["path"], human_size(f["size"]), f["kind"], f["digest"]] for f in result.files])

        out.emit(result.to_json(), render)


@app.command()
def delete(
    model_name: ModelNameOpt,
    model_store: ModelStoreOpt = None,
    tag: TagOpt = None,
    digest: DigestOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for CI).")] = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Delete a tag (the revision stays) or, by digest, a revision and all its tags."""
    with command(output, debug) as out:
        ctx = settings.context()
        ref = RevisionRef.from_options(tag, digest)
        gallery = open_gallery(ctx, model_store, ca_file=ca_file, plain_http=plain_http)
        out.note(f"using gallery {gallery.description}")
        what = f"revision {ref.digest} and every tag on it" if ref.digest else f"tag {ref.tag}"
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError(f"refusing to delete {what} of {model_name} without confirmation",
                                 "add --yes when running non-interactively")
            digest_now = revisions.resolve_revision(gallery, model_name, ref)
            if not typer.confirm(f"delete {what} of {model_name} ({digest_now[:19]}) from {gallery.store.description}?"):
                raise typer.Exit(1)
        result = revisions.delete_revision(gallery, model_name, ref)
        out.emit(result.to_json(), lambda: out.fields([("deleted", result.deleted), ("revision", result.digest),
                                                        ("revision removed", "yes" if result.revision_removed else "no")]))


@app.command()
def download(
    repo_id: Annotated[str, typer.Argument(help="Hugging Face repository, e.g. BAAI/bge-small-en-v1.5.")],
    dest: Annotated[Path, typer.Option("--dest", help="Directory to download into (real files, no symlinks).")],
    revision: Annotated[Optional[str], typer.Option("--revision", help="Branch, tag or commit (default: the default branch).")] = None,
    include: Annotated[Optional[list[str]], typer.Option("--include", help="Only files matching this glob; repeatable.")] = None,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Fetch a model from Hugging Face (HF_ENDPOINT, HF_TOKEN), pinned to a commit and recorded."""
    with command(output, debug) as out:
        ctx = settings.context()
        result = downloads.download_model(ctx, repo_id, dest, revision, allow_patterns=include,
                                          endpoint=settings.hf_endpoint(), progress=out.err.is_terminal)
        out.emit(result.to_json(), lambda: out.fields([
            ("repository", result.repo_id), ("revision", result.revision or "(default branch)"),
            ("commit", result.commit), ("path", result.path), ("files", str(result.files)),
            ("size", human_size(result.bytes)), ("record", result.provenance),
        ]))
        out.note(f"next: pais models validate {result.path}")
