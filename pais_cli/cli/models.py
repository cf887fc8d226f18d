"""`pais models ...`: push, pull and list model revisions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..gallery import api
from ..gallery.galleries import open_gallery
from ..gallery.reference import RevisionRef
from .options import (
    CaFileOpt,
    DebugOpt,
    DigestOpt,
    FlavorOpt,
    JobsOpt,
    ModelNameOpt,
    ModelStoreOpt,
    OptionalModelNameOpt,
    OutputFormat,
    OutputOpt,
    PlainHttpOpt,
    TagOpt,
    TagsOpt,
)
from .output import command, human_size

app = typer.Typer(help="Push, pull and list models in a gallery.", no_args_is_help=True)


def _short(digest: str) -> str:
    return digest[:19]


@app.command()
def push(
    model_name: ModelNameOpt,
    directory: Annotated[Path, typer.Argument(help="Model directory (default: the current directory).")] = Path("."),
    model_store: ModelStoreOpt = None,
    tag: TagsOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Move a tag that names another revision.")] = False,
    include_hidden: Annotated[bool, typer.Option("--include-hidden", help="Also push hidden files and directories.")] = False,
    flavor: FlavorOpt = None,
    jobs: JobsOpt = 4,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Upload a model directory as a ModelPack revision; only blobs the gallery lacks travel."""
    with command(output, debug) as out:
        gallery = open_gallery(model_store, ca_file=str(ca_file) if ca_file else None, plain_http=plain_http, flavor=flavor)
        out.note(f"using gallery {gallery.description}")
        with out.progress("push") as progress:
            result = api.push_model(gallery, directory, model_name, tag or [], force=force,
                                    include_hidden=include_hidden, jobs=jobs, progress=progress)
        if result.skipped:
            out.note(f"left out (hidden): {', '.join(result.skipped)}; use --include-hidden to push them")
        out.note(f"warning: {result.note}")
        out.emit(result.to_json(), lambda: out.fields([
            ("model", result.model),
            ("digest", result.digest),
            ("tags", ", ".join(result.tags)),
            ("files", str(result.files)),
            ("size", human_size(result.bytes_total)),
            ("uploaded", f"{human_size(result.bytes_uploaded)} in {result.blobs_uploaded} blobs "
                         f"({result.blobs_present} already there)"),
            ("validated", "no"),
        ]))


@app.command()
def pull(
    model_name: ModelNameOpt,
    model_store: ModelStoreOpt = None,
    tag: TagOpt = None,
    digest: DigestOpt = None,
    dest: Annotated[Optional[Path], typer.Option("--dest", help="Directory to write the model to (default: ./<model>).")] = None,
    jobs: JobsOpt = 4,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Download a revision by tag or digest, verified byte for byte; never an implicit latest."""
    with command(output, debug) as out:
        ref = RevisionRef.from_options(tag, digest)
        gallery = open_gallery(model_store, ca_file=str(ca_file) if ca_file else None, plain_http=plain_http)
        out.note(f"using gallery {gallery.description}")
        with out.progress("pull") as progress:
            result = api.pull_model(gallery, model_name, ref, dest, jobs=jobs, progress=progress)
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
        gallery = open_gallery(model_store, ca_file=str(ca_file) if ca_file else None, plain_http=plain_http)
        out.note(f"using gallery {gallery.description}")
        revisions = api.list_revisions(gallery, model_name)
        out.emit([r.to_json() for r in revisions], lambda: out.table(
            ["MODEL", "DIGEST", "TAGS", "SIZE", "FILES"],
            [[r.model, _short(r.digest), ",".join(r.tags) or "-", human_size(r.size), str(r.files)] for r in revisions],
        ))
