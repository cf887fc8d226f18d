"""`pais gallery ...`: create or check a gallery, list and remove named ones, collect garbage."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..errors import UsageError
from . import settings
from .help import CONTEXT_SETTINGS, examples
from .options import (
    CaFileOpt,
    DebugOpt,
    FlavorOpt,
    ModelStoreOpt,
    OutputFormat,
    OutputOpt,
    PlainHttpOpt,
    QuietOpt,
    VerboseOpt,
)

# `gallery gc`'s default; a constant here so --help does not import the store code.
DEFAULT_GRACE_S = 3600.0

app = typer.Typer(help="Create, list, remove and clean up galleries.", no_args_is_help=True,
                  rich_markup_mode=None, context_settings=CONTEXT_SETTINGS)


def _complete_names(incomplete: str) -> list[tuple[str, str]]:
    from .complete import galleries

    return [g for g in galleries(incomplete) if "/" not in g[0]]


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


@app.command(epilog=examples(
    "pais gallery init --modelStore harbor.example.com/dev-models --name dev",
    "pais gallery init -s harbor.example.com/prod-models --name prod --production",
    "pais gallery init --modelStore /srv/models --name local",
))
def init(
    model_store: ModelStoreOpt = None,
    name: Annotated[Optional[str], typer.Option("--name", metavar="NAME", help="Save as a named gallery (e.g. dev, prod) in the config file.")] = None,
    flavor: FlavorOpt = None,
    require_validated: Annotated[bool, typer.Option("--require-validated", help="Pulls from this gallery require a passing report.")] = False,
    require_smoke: Annotated[bool, typer.Option("--require-smoke", help="Validation fails when the smoke test cannot run.")] = False,
    production: Annotated[bool, typer.Option("--production", help="Mark as a production gallery (promotion into it requires validation).")] = False,
    public: Annotated[bool, typer.Option("--public", help="Harbor: create the project public (default private).")] = False,
    quota: Annotated[Optional[str], typer.Option("--quota", metavar="SIZE", help="Harbor: project storage limit, e.g. 500GiB.")] = None,
    immutable_tags: Annotated[Optional[str], typer.Option("--immutable-tags", metavar="PATTERN", help="Harbor: tags matching this pattern (e.g. v*) can never move.")] = None,
    robot: Annotated[Optional[str], typer.Option("--robot", metavar="NAME", help="Harbor: create a project robot account for CI.")] = None,
    robot_permission: Annotated[str, typer.Option("--robot-permission", metavar="PERMISSION", help="pull or push (push includes pull).")] = "pull",
    show_secret: Annotated[bool, typer.Option("--show-secret", help="Print a newly created robot's secret to stdout (once).")] = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Create an on-disk gallery, or check a registry gallery: reachability, TLS, credentials, push."""
    from ..app import init as gallery_init
    from ..app.galleries import named_galleries, open_gallery
    from .output import command

    with command(output, debug, quiet, verbose) as out:
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
            rows.append(("saved as", f"{check.saved_as} ({check.config_outcome}) in {ctx.config_file}"))
            others = {n: g.flavor for n, g in named_galleries(ctx).items() if n != name and g.flavor != check.flavor}
            if others:
                # The quickstart's old trap: dev in one flavour, prod in another, and promote refused.
                out.warn(f"note: {', '.join(f'{n} writes {f}' for n, f in others.items())} and {name} writes "
                         f"{check.flavor}: promote between them needs --convert-flavor (a new digest), or "
                         f"give both the same --flavor")
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


@app.command("list", epilog=examples("pais gallery list", "pais gallery list -o json"))
def list_(
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """The named galleries (name, store, flavour, policies) and the config file they live in."""
    from ..app.galleries import named_galleries
    from .output import command

    with command(output, debug, quiet, verbose) as out:
        ctx = settings.context()
        named = named_galleries(ctx)
        out.note(f"config file: {ctx.config_file}" + ("" if ctx.config_file.exists() else " (not written yet)"))

        def policies(g: object) -> str:
            flags = [label for key, label in (("require_validated", "require-validated"), ("require_smoke", "require-smoke"),
                                              ("production", "production"), ("plain_http", "plain-http"))
                     if getattr(g, key)]
            if getattr(g, "ca_file"):
                flags.append(f"ca-file={getattr(g, 'ca_file')}")
            return ",".join(flags) or "-"

        data = {"config_file": str(ctx.config_file),
                "galleries": [{"name": n, **g.to_toml()} for n, g in named.items()]}
        out.emit(data, lambda: out.table(["NAME", "STORE", "FLAVOR", "POLICIES"],
                                         [[n, g.store, g.flavor, policies(g)] for n, g in named.items()]))


@app.command(epilog=examples("pais gallery remove dev"))
def remove(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The named gallery to forget.", autocompletion=_complete_names)],
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Forget a named gallery; the models stored in it are left where they are."""
    from ..app.galleries import remove_named_gallery
    from .output import command

    with command(output, debug, quiet, verbose) as out:
        ctx = settings.context()
        removed = remove_named_gallery(ctx, name)
        out.note(f"removed from {ctx.config_file}; nothing in {removed.store} was touched")
        out.emit({"removed": name, "store": removed.store, "config_file": str(ctx.config_file)},
                 lambda: out.fields([("removed", name), ("store", removed.store)]))


@app.command(epilog=examples("pais gallery gc --dry-run", "pais gallery gc --modelStore /srv/models --grace 600"))
def gc(
    model_store: ModelStoreOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go and how much it frees; remove nothing.")] = False,
    grace: Annotated[float, typer.Option("--grace", min=0, metavar="SECONDS", help="Younger unreferenced blobs and staging files stay (a push may be writing them).")] = DEFAULT_GRACE_S,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Remove blobs no revision reaches, orphaned referrer indexes and abandoned staging of an on-disk gallery."""
    from ..app import maintenance
    from ..app.galleries import open_gallery
    from .output import command, human_size

    with command(output, debug, quiet, verbose) as out:
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
