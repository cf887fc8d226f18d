"""`pais gallery ...`: create or check a gallery."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..app import init as gallery_init
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
from .output import command

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
