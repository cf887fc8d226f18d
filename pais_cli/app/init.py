"""`gallery init`: create or check a gallery, provision its Harbor project, save it by name."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import config
from ..errors import UsageError
from ..gallery.harbor import default_flavor
from ..gallery.reference import is_on_disk
from .context import Context
from .galleries import Gallery


@dataclass
class GalleryCheck:
    store: str
    kind: str
    created: bool = False
    reachable: bool = True
    scheme: str | None = None
    tls_verified: bool | None = None
    auth: str | None = None
    credentials: str | None = None
    push_allowed: bool | None = None
    flavor: str = "cncf"
    saved_as: str | None = None
    config_changed: bool = False
    config_outcome: str | None = None  # created, updated or unchanged: what saving did to the named entry
    harbor: dict[str, Any] | None = None  # Harbor version, flavour reason, project, changes, robot
    notes: list[str] = field(default_factory=list)
    robot_secret: str | None = field(default=None, repr=False)  # shown once, on request, never in JSON

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "robot_secret"}


@dataclass
class HarborOptions:
    """What `gallery init` may ask of a Harbor project; any of it on another registry is refused."""

    public: bool = False
    quota: str | None = None
    immutable_tags: str | None = None
    robot: str | None = None
    robot_permission: str = "pull"

    @property
    def asked(self) -> bool:
        return self.public or bool(self.quota or self.immutable_tags or self.robot)


def init_gallery(
    ctx: Context,
    gallery: Gallery,
    *,
    name: str | None = None,
    require_validated: bool = False,
    require_smoke: bool = False,
    production: bool = False,
    flavor_override: str | None = None,
    harbor: HarborOptions | None = None,
) -> GalleryCheck:
    """Create an on-disk gallery or check a registry one; on Harbor, create or check the project
    (quota, immutable tags, robot) too; save it under `name` when asked."""
    if name and not config.is_gallery_name(name):
        raise UsageError(f"invalid gallery name {name!r}", "use lowercase letters, digits, '-' and '_', e.g. dev or prod")
    settings = replace(gallery.settings, require_validated=require_validated or gallery.settings.require_validated,
                       require_smoke=require_smoke or gallery.settings.require_smoke,
                       production=production or gallery.settings.production)
    harbor = harbor or HarborOptions()
    check = GalleryCheck(store=gallery.store.description, kind=gallery.kind, flavor=settings.flavor)
    project = gallery.store.harbor()
    if project is not None:
        info = project.client.system_info()
        choice = default_flavor(info, flavor_override)
        settings = replace(settings, flavor=choice.flavor)
        result = project.client.init_project(
            project.name, public=harbor.public, storage_limit=harbor.quota,
            immutable_tags=harbor.immutable_tags, robot=harbor.robot,
            robot_permission=harbor.robot_permission,  # type: ignore[arg-type]
        )
        check.flavor, check.created = choice.flavor, result.created
        check.harbor = {"version": info.version, "flavor_reason": choice.reason, **result.to_json()}
        check.robot_secret = result.robot.secret if result.robot else None
        check.notes.extend(result.changes + result.notes)
    elif harbor.asked and gallery.kind == "disk":
        raise UsageError("--public, --quota, --immutable-tags and --robot are Harbor settings",
                         "use them with a Harbor project: --modelStore HOST/PROJECT")
    elif harbor.asked:
        raise UsageError(f"{gallery.store.description.partition('/')[0]} is not Harbor: --public, --quota, --immutable-tags "
                         "and --robot need Harbor",
                         "drop those options; on other registries create the namespace with the registry's own tools")
    store_check = gallery.store.prepare({"flavor": settings.flavor, "require_validated": settings.require_validated,
                                         "require_smoke": settings.require_smoke, "production": settings.production})
    check.created = check.created or store_check.created
    check.scheme, check.tls_verified, check.auth = store_check.scheme, store_check.tls_verified, store_check.auth
    check.credentials, check.push_allowed = store_check.credentials, store_check.push_allowed
    check.notes.extend(store_check.notes)
    if name:
        store_value = settings.store if not is_on_disk(settings.store) else str(Path(settings.store))
        check.config_outcome = config.save_gallery(ctx.config_file, name, replace(settings, store=store_value))
        check.config_changed = check.config_outcome != "unchanged"
        check.saved_as = name
    return check
