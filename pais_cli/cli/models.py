"""`pais models ...`: push, pull, list, validate, inspect, promote, delete and download.

Only typer and the option types are imported here: the application layer (and httpx, the
validators, huggingface_hub behind it) is imported inside each command, when it runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..errors import UsageError
from ..gallery.network import DEFAULT_CONNECT_TIMEOUT, DEFAULT_RETRIES, DEFAULT_STALL_TIMEOUT
from . import settings
from .help import CONTEXT_SETTINGS, examples
from .options import (
    AllowCodeOpt,
    AllowNoWeightsOpt,
    AllowRemoteCodeOpt,
    NoCacheOpt,
    TrustGalleryReportsOpt,
    CaFileOpt,
    ChecksumsOpt,
    ChunkSizeOpt,
    ClamdOpt,
    ClamdWindowOpt,
    ConnectTimeoutOpt,
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
    QuietOpt,
    ReportFileOpt,
    ReportFormat,
    ReportOutputOpt,
    RequireSmokeOpt,
    RequireValidatedOpt,
    RetriesOpt,
    SandboxOpt,
    SkipOpt,
    SmokeMemoryOpt,
    SmokeTimeoutOpt,
    StallTimeoutOpt,
    TagOpt,
    TagsOpt,
    TargetOpt,
    VerboseOpt,
)

if TYPE_CHECKING:
    from ..app.references import Target

ReferenceArg = Annotated[Optional[str], typer.Argument(
    metavar="REFERENCE", show_default=False,
    help="The model as one argument: MODEL:TAG, MODEL@DIGEST or HOST[:PORT]/PROJECT/MODEL:TAG (instead of --modelName).")]


def _target(reference: str | None, model_name: str | None, store: str | None, tag: str | None, digest: str | None,
            revision: bool = True) -> Target:
    from ..app.references import resolve_target

    if reference and model_name:
        raise UsageError("the model is given twice: as REFERENCE and with --modelName", "give one of them")
    if not (reference or model_name):
        raise UsageError("no model given", "give MODEL:TAG (or HOST/PROJECT/MODEL:TAG) as the argument, or --modelName")
    return resolve_target(reference or model_name or "", store, tag, digest, revision=revision)


app = typer.Typer(help="Push, pull, list, validate, inspect, promote, delete and download models.",
                  no_args_is_help=True, rich_markup_mode=None, context_settings=CONTEXT_SETTINGS)


def validation_label(validated: bool, verdict: str) -> str:
    """One wording for list and inspect: a passing report that does not count (a check was
    skipped, or it covers other files) is not shown as a pass."""
    if validated:
        return "validated"
    return "unvalidated" if verdict in ("pass", "unvalidated") else verdict


@app.command(epilog=examples(
    "pais models push ./bge-small --modelName baai/bge-small:v1 --modelStore dev",
    "pais models push . -m acme/llama -s harbor.example.com/models -t v2",
    "pais models push ./tok -m acme/tok:v1 --allow-no-weights   # tokenizer only",
))
def push(
    model_name: ModelNameOpt,
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Model directory (default: the current directory).")] = Path("."),
    model_store: ModelStoreOpt = None,
    tag: TagsOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Move a tag that names another revision.")] = False,
    include_hidden: Annotated[bool, typer.Option("--include-hidden", help="Also push hidden files and directories.")] = False,
    skip_validation: Annotated[bool, typer.Option("--skip-validation", help="Push without validating; the revision is marked unvalidated.")] = False,
    allow_no_weights: AllowNoWeightsOpt = False,
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
    jobs: JobsOpt = 4,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    stall_timeout: StallTimeoutOpt = DEFAULT_STALL_TIMEOUT,
    retries: RetriesOpt = DEFAULT_RETRIES,
    chunk_size: ChunkSizeOpt = "8MiB",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Validate a model directory, then upload it as a ModelPack revision; only blobs the gallery lacks travel."""
    from ..app.push import push_model
    from ..app.galleries import open_gallery
    from ..app.references import resolve_push_target
    from .output import command, human_size, network_policy
    from .report import SmokeFlags, check_options, print_report

    with command(output, debug, quiet, verbose) as out:
        ctx = settings.context()
        where = resolve_push_target(model_name, model_store, tag or [])
        network = network_policy(out, connect_timeout, stall_timeout, retries, chunk_size, verbose)
        gallery = open_gallery(ctx, where.store, ca_file=ca_file, plain_http=plain_http, flavor=flavor, network=network)
        out.note(f"using gallery {gallery.description}")
        if skip_validation:
            out.warn("warning: --skip-validation: the revision will be stored UNVALIDATED and pulls that require validation refuse it")

        def on_report(report: Any) -> None:
            if not out.json and not out.quiet:
                print_report(out, report, stderr=True)
            if report_file:
                report_file.write_text(json.dumps(report.to_json(), indent=2) + "\n")

        with out.progress("push") as progress:
            result = push_model(
                ctx, gallery, directory, where.model, list(where.tags), force=force, include_hidden=include_hidden,
                jobs=jobs, progress=progress, skip_validation=skip_validation, on_report=on_report,
                allow_no_weights=allow_no_weights, check_progress=progress,
                checks=check_options(
                    skip, checksums, clamd, clamd_window, allow_remote_code, jobs,
                    SmokeFlags(sandbox, target, require_smoke, smoke_timeout, smoke_memory, docker_host, engine_image),
                    gallery.settings.require_smoke, include_hidden, allow_code, allow_no_weights, no_cache,
                    trust_gallery_reports),
            )
        if result.skipped:
            out.note(f"left out (hidden): {', '.join(result.skipped)}; use --include-hidden to push them")
        if not result.validated:
            out.warn(f"warning: {result.note}")
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


@app.command(epilog=examples(
    "pais models pull baai/bge-small:approved --modelStore dev --dest ./bge",
    "pais models pull harbor.example.com/models/baai/bge-small:v1",
    "pais models pull -m acme/llama -s /srv/gallery --digest sha256:4f2c...",
))
def pull(
    reference: ReferenceArg = None,
    model_name: OptionalModelNameOpt = None,
    model_store: ModelStoreOpt = None,
    tag: TagOpt = None,
    digest: DigestOpt = None,
    dest: Annotated[Optional[Path], typer.Option("--dest", metavar="DIR", help="Directory to write the model to (default: ./<model>).")] = None,
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
    from ..app.galleries import open_gallery
    from ..app.pull import pull_model
    from .output import command, human_size, network_policy

    with command(output, debug, quiet, verbose) as out:
        ctx = settings.context()
        where = _target(reference, model_name, model_store, tag, digest)
        assert where.ref is not None
        network = network_policy(out, connect_timeout, stall_timeout, retries, None, verbose)
        gallery = open_gallery(ctx, where.store, ca_file=ca_file, plain_http=plain_http, network=network)
        out.note(f"using gallery {gallery.description}")
        with out.progress("pull") as progress:
            result = pull_model(ctx, gallery, where.model, where.ref, dest, jobs=jobs, progress=progress,
                                require_validated=require_validated)
        out.emit(result.to_json(), lambda: out.fields([
            ("model", result.model),
            ("digest", result.digest),
            ("path", result.path),
            ("files", str(result.files)),
            ("downloaded", f"{human_size(result.bytes_downloaded)} of {human_size(result.bytes_total)}"),
        ]))


@app.command("list", epilog=examples(
    "pais models list --modelStore dev",
    "pais models list -s harbor.example.com/models -m baai/bge-small -o json",
))
def list_(
    model_store: ModelStoreOpt = None,
    model_name: OptionalModelNameOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """One row per revision of every model in the gallery (or of one); full digests on a pipe."""
    from ..app import revisions
    from ..app.galleries import open_gallery
    from .output import command, human_size

    with command(output, debug, quiet, verbose) as out:
        ctx = settings.context()
        model = store = None
        if model_name:
            where = _target(None, model_name, model_store, None, None, revision=False)
            model, store = where.model, where.store
        gallery = open_gallery(ctx, store or model_store, ca_file=ca_file, plain_http=plain_http)
        out.note(f"using gallery {gallery.description}")
        found = revisions.list_revisions(gallery, model)
        out.emit([r.to_json() for r in found], lambda: out.table(
            ["MODEL", "DIGEST", "TAGS", "SIZE", "FILES", "VALIDATION"],
            [[r.model, out.digest(r.digest), ",".join(r.tags) or "-", human_size(r.size), str(r.files),
              validation_label(r.validated, r.verdict)] for r in found],
        ))


@app.command(epilog=examples(
    "pais models validate ./bge-small",
    "pais models validate ./bge-small -o sarif --report report.json",
    "pais models validate baai/bge-small:v1 --modelStore dev   # re-check, attach",
))
def validate(
    directory: Annotated[Optional[str], typer.Argument(
        metavar="DIR|REFERENCE",
        help="Model directory (default: the current directory), or a stored MODEL:TAG to re-check.")] = None,
    model_name: OptionalModelNameOpt = None,
    model_store: ModelStoreOpt = None,
    tag: TagOpt = None,
    digest: DigestOpt = None,
    allow_no_weights: AllowNoWeightsOpt = False,
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
    jobs: JobsOpt = 4,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    stall_timeout: StallTimeoutOpt = DEFAULT_STALL_TIMEOUT,
    retries: RetriesOpt = DEFAULT_RETRIES,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: ReportOutputOpt = ReportFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Check a model directory, or re-check a stored revision and attach the new report to it."""
    from ..app import validate as validation
    from ..app.galleries import open_gallery
    from .output import command, network_policy
    from .report import SmokeFlags, check_options, render_report

    fmt = OutputFormat.json if output != ReportFormat.table else OutputFormat.table
    with command(fmt, debug, quiet, verbose) as out:
        ctx = settings.context()
        flags = SmokeFlags(sandbox, target, require_smoke, smoke_timeout, smoke_memory, docker_host, engine_image)
        options = check_options(skip, checksums, clamd, clamd_window, allow_remote_code, jobs, flags,
                                include_hidden=include_hidden, allow_code=allow_code, allow_no_weights=allow_no_weights,
                                no_cache=no_cache)
        # A stored revision: any revision or gallery flag, or an argument that is a reference, not a directory.
        reference = directory if directory is not None and not Path(directory).exists() and (
            ":" in directory or "@" in directory) else None
        stored = reference is not None or tag is not None or digest is not None or model_store is not None
        if stored:
            if (directory is not None and reference is None) or not (model_name or reference):
                raise UsageError("give either a DIR, or a stored revision",
                                 "pais models validate DIR, or pais models validate MODEL:TAG --modelStore GALLERY")
            where = _target(reference, model_name, model_store, tag, digest)
            assert where.ref is not None
            network = network_policy(out, connect_timeout, stall_timeout, retries, None, verbose)
            gallery = open_gallery(ctx, where.store, ca_file=ca_file, plain_http=plain_http, network=network)
            out.note(f"using gallery {gallery.description}")
            options.smoke.require = options.smoke.require or gallery.settings.require_smoke
            with out.progress("fetch") as progress:
                result = validation.validate_revision(ctx, gallery, where.model, where.ref, options, progress=progress,
                                                      check_progress=progress)
            out.note(f"report attached to {where.model}@{result.digest} as {result.report_digest}")
        else:
            with out.progress("validate") as progress:
                result = validation.validate_directory(ctx, Path(directory or "."), options, model_name, progress)
        if report_file:
            report_file.write_text(json.dumps(result.report.to_json(), indent=2) + "\n")
        render_report(out, result.report, output)
        if result.report.verdict != "pass":
            raise typer.Exit(1)
        if not result.validated:
            out.note(f"note: passing, but would not count as validated: {result.reason}")


@app.command(epilog=examples(
    "pais models promote baai/bge-small:approved --from dev --to prod \\",
    "    --as-tag prod",
    "pais models promote -m acme/llama --from dev --to prod -d sha256:4f2c...",
))
def promote(
    source: Annotated[str, typer.Option("--from", metavar="GALLERY", help="Source gallery (store or named gallery).",
                                        autocompletion=lambda incomplete: _complete_galleries(incomplete))],
    destination: Annotated[str, typer.Option("--to", metavar="GALLERY", help="Destination gallery (store or named gallery).",
                                             autocompletion=lambda incomplete: _complete_galleries(incomplete))],
    reference: ReferenceArg = None,
    model_name: OptionalModelNameOpt = None,
    tag: TagOpt = None,
    digest: DigestOpt = None,
    as_tag: Annotated[Optional[str], typer.Option("--as-tag", metavar="TAG", help="Tag in the destination (default: the same tag).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Move a destination tag that names another revision.")] = False,
    convert_flavor: Annotated[bool, typer.Option("--convert-flavor", help="Rewrite to the destination's flavour (new digest).")] = False,
    require_validated: RequireValidatedOpt = None,
    jobs: JobsOpt = 4,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    stall_timeout: StallTimeoutOpt = DEFAULT_STALL_TIMEOUT,
    retries: RetriesOpt = DEFAULT_RETRIES,
    chunk_size: ChunkSizeOpt = "8MiB",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Copy a revision, its blobs and its validation reports from one gallery to another."""
    from ..app import promote as promotion
    from ..app.galleries import open_gallery
    from .output import command, human_size, network_policy

    with command(output, debug, quiet, verbose) as out:
        ctx = settings.context()
        where = _target(reference, model_name, None, tag, digest)
        assert where.ref is not None
        if where.store:
            raise UsageError("promote takes its galleries from --from and --to", "give the model as MODEL:TAG")
        network = network_policy(out, connect_timeout, stall_timeout, retries, chunk_size, verbose)
        src = open_gallery(ctx, source, ca_file=ca_file, plain_http=plain_http, network=network)
        dst = open_gallery(ctx, destination, ca_file=ca_file, plain_http=plain_http, network=network)
        out.note(f"from {src.description}\nto   {dst.description}")
        with out.progress("promote") as progress:
            result = promotion.promote_model(src, dst, where.model, where.ref, as_tag, force=force, convert=convert_flavor,
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


def _complete_galleries(incomplete: str) -> list[tuple[str, str]]:
    from .complete import galleries

    return galleries(incomplete)


@app.command(epilog=examples(
    "pais models inspect baai/bge-small:v1 --modelStore dev",
    "pais models inspect harbor.example.com/models/baai/bge-small:v1 -o json",
))
def inspect(
    reference: ReferenceArg = None,
    model_name: OptionalModelNameOpt = None,
    model_store: ModelStoreOpt = None,
    tag: TagOpt = None,
    digest: DigestOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Files, ModelPack config, tags and validation state of one revision."""
    from ..app import revisions
    from ..app.galleries import open_gallery
    from .output import command, human_size

    with command(output, debug, quiet, verbose) as out:
        ctx = settings.context()
        where = _target(reference, model_name, model_store, tag, digest)
        assert where.ref is not None
        gallery = open_gallery(ctx, where.store, ca_file=ca_file, plain_http=plain_http)
        out.note(f"using gallery {gallery.description}")
        result = revisions.inspect_revision(gallery, where.model, where.ref)

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


@app.command(epilog=examples(
    "pais models delete baai/bge-small:old --modelStore dev --yes",
    "pais models delete -m acme/llama -s dev --digest sha256:4f2c... --yes",
))
def delete(
    reference: ReferenceArg = None,
    model_name: OptionalModelNameOpt = None,
    model_store: ModelStoreOpt = None,
    tag: TagOpt = None,
    digest: DigestOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for CI).")] = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Delete a tag (the revision stays) or, by digest, a revision and all its tags."""
    from ..app import revisions
    from ..app.galleries import open_gallery
    from .output import command

    with command(output, debug, quiet, verbose) as out:
        ctx = settings.context()
        where = _target(reference, model_name, model_store, tag, digest)
        ref = where.ref
        assert ref is not None
        gallery = open_gallery(ctx, where.store, ca_file=ca_file, plain_http=plain_http)
        out.note(f"using gallery {gallery.description}")
        what = f"revision {ref.digest} and every tag on it" if ref.digest else f"tag {ref.tag}"
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError(f"refusing to delete {what} of {where.model} without confirmation",
                                 "add --yes when running non-interactively")
            digest_now = revisions.resolve_revision(gallery, where.model, ref)
            if not typer.confirm(f"delete {what} of {where.model} ({digest_now[:19]}) from {gallery.store.description}?"):
                raise typer.Exit(1)
        result = revisions.delete_revision(gallery, where.model, ref)
        out.emit(result.to_json(), lambda: out.fields([("deleted", result.deleted), ("revision", result.digest),
                                                        ("revision removed", "yes" if result.revision_removed else "no")]))


@app.command(epilog=examples(
    "pais models download BAAI/bge-small-en-v1.5 --dest ./bge-small-en-v1.5",
    "pais models download Qwen/Qwen2.5-0.5B --revision main --include '*.json' \\",
    "    --include '*.safetensors' --dest ./qwen",
))
def download(
    repo_id: Annotated[str, typer.Argument(metavar="REPO", help="Hugging Face repository, e.g. BAAI/bge-small-en-v1.5.")],
    dest: Annotated[Path, typer.Option("--dest", metavar="DIR", help="Directory to download into (real files, no symlinks).")],
    revision: Annotated[Optional[str], typer.Option("--revision", metavar="REV", help="Branch, tag or commit (default: the default branch).")] = None,
    include: Annotated[Optional[list[str]], typer.Option("--include", metavar="GLOB", help="Only files matching this glob; repeatable.")] = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Fetch a model from Hugging Face (HF_ENDPOINT, HF_TOKEN), pinned to a commit and recorded."""
    from ..app import download as downloads
    from .output import command, human_size

    with command(output, debug, quiet, verbose) as out:
        ctx = settings.context()
        with out.progress("download", unit="files") as progress:
            result = downloads.download_model(ctx, repo_id, dest, revision, allow_patterns=include,
                                              endpoint=settings.hf_endpoint(), progress=progress)
        out.emit(result.to_json(), lambda: out.fields([
            ("repository", result.repo_id), ("revision", result.revision or "(default branch)"),
            ("commit", result.commit), ("path", result.path), ("files", str(result.files)),
            ("size", human_size(result.bytes)), ("record", result.provenance),
        ]))
        out.note(f"next: pais models validate {result.path}")
