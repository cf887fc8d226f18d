"""`pais gallery ...`: create or check a gallery."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..app import init as gallery_init
from ..app import maintenance
from ..app.maintenance import DEFAULT_GRACE_S
from ..app.galleries import open_gallery
from ..errors import UsageError
from . import settings
from .options import (
    CaFileOpt,
    DebugOpt,
    FlavorOpt,
    ModelStoreOpt,
    OutputFormat,
    OutputOpt,
    PlainHttpOpt,
)
from .output import command, human_size

app = typer.Typer(help="Create or check a gallery.", no_args_is_help=True)


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


@app.command()
def init(
    model_store: ModelStoreOpt = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Save as a named gallery (e.g. dev, prod) in the config file.")] = None,
    flavor: FlavorOpt = None,
    require_validated: Annotated[bool, typer.Option("--require-validated", help="Pulls from this gallery require a passing report.")] = False,
    require_smoke: Annotated[bool, typer.Option("--require-smoke", help="Validation fails when the smoke test cannot run.")] = False,
    production: Annotated[bool, typer.Option("--production", help="Mark as a production gallery (promotion into it requires validation).")] = False,
    public: Annotated[bool, typer.Option("--public", help="Harbor: create the project public (default private).")] = False,
    quota: Annotated[Optional[str], typer.Option("--quota", help="Harbor: project storage limit, e.g. 500GiB.")] = None,
    immutable_tags: Annotated[Optional[str], typer.Option("--immutable-tags", help="Harbor: tags matching this pattern (e.g. v*) can never move.")] = None,
    robot: Annotated[Optional[str], typer.Option("--robot", help="Harbor: create a project robot account for CI.")] = None,
    robot_permission: Annotated[str, typer.Option("--robot-permission", help="pull or push (push includes pull).")] = "pull",
    show_secret: Annotated[bool, typer.Option("--show-secret", help="Print a newly created robot's secret to stdout (once).")] = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Create an on-disk gallery, or check a registry gallery: reachability, TLS, credentials, push."""
    with command(output, debug) as out:
        ctx = settings.context()
        gallery = open_gallery(ctx, model_store, ca_file=ca_file, plain_http=plain_http, flavor=flavor)
        out.note(f"using gallery {gallery.description}")
        if robot_permission not in ("pull", "push"):
            raise UsageError(f"invalid --robot-permission {robot_permission!r}", "use pull or push")
        check = gallery_init.init_gallery(
            ctx, gallery, name=name, require_validated=require_validated, require_smoke=require_smoke, production=production, flavor_override=flavor,
            harbor=gallery_init.HarborOptions(public, quota, immutable_tags, robot, robot_permission),
        )
        rows = [("store", check.store), ("kind", check.kind), ("flavor", check.flavor)]
        if check.kind == "disk":
            rows.append(("created", _yes_no(check.created)))
        else:
            rows += [("scheme", check.scheme or "-"), ("tls verified", _yes_no(check.tls_verified)),
                     ("auth", check.auth or "-"), ("credentials", check.credentials or "none"),
                     ("push allowed", _yes_no(check.push_allowed))]
        if check.saved_as:
            rows.append(("saved as", f"{check.saved_as} ({'updated' if check.config_changed else 'unchanged'})"))
        if check.harbor:
            rows.insert(1, ("harbor", f"{check.harbor.get('version') or 'version hidden'}; project "
                                      f"{'created' if check.created else 'exists'}"))
            out.note(f"flavor: {check.harbor['flavor_reason']}")
        for note in check.notes:
            out.note(note)
        data = check.to_json()
        if check.robot_secret:
            if show_secret:
                data["robot_secret"] = check.robot_secret
                rows.append(("robot secret", check.robot_secret))
            else:
                out.note("the new robot's secret is not shown (pass --show-secret); Harbor will not show it again")
        out.emit(data, lambda: out.fields(rows))
        if check.kind == "registry" and check.push_allowed is False:
            raise typer.Exit(1)


@app.command()
def gc(
    model_store: ModelStoreOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go and how much it frees; remove nothing.")] = False,
    grace: Annotated[float, typer.Option("--grace", min=0, help="Seconds: younger unreferenced blobs and staging files stay (a push may be writing them).")] = DEFAULT_GRACE_S,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Remove blobs no revision reaches, orphaned referrer indexes and abandoned staging of an on-disk gallery."""
    with command(output, debug) as out:
        gallery = open_gallery(settings.context(), model_store)
        out.note(f"using gallery {gallery.description}")
        report = maintenance.collect_garbage(gallery, dry_run=dry_run, grace_s=grace)
        verb = "would free" if dry_run else "freed"
        out.emit(maintenance.report_json(report), lambda: out.fields([
            (verb, human_size(report.bytes_freed)),
            ("blobs", str(report.blobs)),
            ("staging files", str(report.staging_files)),
            ("referrer indexes", str(report.referrer_indexes)),
            ("kept (younger than --grace)", str(report.kept_young)),
        ]))
