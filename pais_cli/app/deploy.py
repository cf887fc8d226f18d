"""Deploy a pinned revision as an endpoint: the orchestration of the serving libraries.

plan_deployment: resolve the tag once -> governance (validated, as `models pull` means it) ->
model facts (configs and weight headers only) -> placement -> engine -> what is deployed now
(cluster or --manifests-dir) -> manifests that pin the digest and are valid updates of what is
there -> preflight against the cluster's quotas, limits and nodes (when one is read).
apply_plan: `kubectl apply --dry-run=server`, then for real, in dependency order, optionally
waiting for readiness; an NGC upgrade then deletes the caches no longer used.
delete_endpoint: what deploy created for a routing name, deleted through kubectl.
list_endpoints: what serves which routing name, and whether its tag still points there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .context import Context
from ..errors import NotValidated, PaisError
from ..gallery.modelpack import ModelFile, model_files
from ..gallery.reference import RevisionRef, check_model_name, parse_registry
from ..gallery.stores.registry import is_loopback
from ..runtime import listing, nim, rollout, storage
from ..runtime.detect import ModelInfo, detect_revision
from ..runtime.endpoint import AUTOSCALERS, DEFAULT_PROMETHEUS, ROLLOUTS, Endpoint, GatewayRef
from ..runtime.engines import choose_engine
from ..runtime.errors import DeployRefused, KubectlError, MissingCRD, Unreachable
from ..runtime.fetch import FETCH_IMAGE, FetchSource
from ..runtime.kubectl import Kubectl
from ..runtime.kubernetes import K8sObject, render_plain, storage_note, to_yaml
from ..runtime.placement import GIB, Placement, place
from ..runtime.preflight import preflight
from ..runtime.routing import (
    ROUTING_ANNOTATION,
    VALIDATION_ANNOTATION,
    RoutingName,
    object_name,
    parse_routing_name,
)
from . import observe
from .galleries import Gallery, open_gallery
from .preflight import gather
from .reports import require_validation


@dataclass
class DeployRequest:
    routing_name: str
    model: str | None = None
    ref: RevisionRef | None = None
    engine: str = "auto"
    model_type: str | None = None
    gpus: int | None = None
    gpu_model: str | None = None
    vgpu: bool = False
    vgpu_profile: str | None = None
    replicas: int | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    namespace: str | None = None
    pull_secret: str | None = None
    image: str | None = None  # None: the engine's pinned default
    fetch_image: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    nim: nim.NimOptions = field(default_factory=nim.NimOptions)
    require_validated: bool = True
    rollout: str | None = None  # surge | recreate; None: surge where capacity allows
    storage_class: str | None = None  # a ReadWriteMany class: one shared model volume
    volume_bytes: int | None = None  # --volume-size
    autoscale: str | None = None  # keda | hpa
    prometheus_url: str = DEFAULT_PROMETHEUS
    network_policy: bool = False
    gateway_namespace: str | None = None
    gateway_api: str | None = None  # NAMESPACE/NAME of a Gateway
    manifests_dir: Path | None = None  # where the previous deploy's manifests are
    read_cluster: bool = False  # read what is deployed, and preflight, through kubectl
    require_cluster: bool = False  # --apply: a cluster that cannot be read is an error


@dataclass
class DeployPlan:
    routing_name: str
    name: str
    engine: str
    engine_reason: str
    source: str  # gallery reference or NGC model
    model: str | None
    digest: str | None
    tag: str | None
    placement: Placement
    info: ModelInfo | None
    manifests: list[K8sObject]
    namespace: str | None
    notes: list[str] = field(default_factory=list)
    rollout: str | None = None
    storage: str | None = None
    previous_digest: str | None = None
    validation: str | None = None
    preflight: list[str] = field(default_factory=list)
    old_caches: str | None = None  # kubectl selector of NGC caches to delete after an upgrade
    replaces: list[str] = field(default_factory=list)  # another engine's serving objects, deleted first
    applied: bool = False
    ready: bool | None = None

    @property
    def yaml(self) -> str:
        return to_yaml(self.manifests)

    @property
    def cleanup_command(self) -> str | None:
        if not self.old_caches:
            return None
        ns = f" -n {self.namespace}" if self.namespace else ""
        return f"kubectl delete --ignore-not-found{ns} nimcaches.apps.nvidia.com -l '{self.old_caches}'"

    @property
    def replace_command(self) -> str | None:
        if not self.replaces:
            return None
        ns = f" -n {self.namespace}" if self.namespace else ""
        return f"kubectl delete --ignore-not-found{ns} {' '.join(self.replaces)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "routing_name": self.routing_name, "name": self.name, "namespace": self.namespace, "engine": self.engine,
            "engine_reason": self.engine_reason, "source": self.source, "model": self.model, "digest": self.digest,
            "tag": self.tag, "previous_digest": self.previous_digest, "validation": self.validation,
            "rollout": self.rollout, "storage": self.storage, "placement": self.placement.to_json(),
            "model_info": self.info.to_json() if self.info else None,
            "objects": [{"kind": m["kind"], "name": m["metadata"]["name"]} for m in self.manifests],
            "preflight": self.preflight, "cleanup": self.cleanup_command, "replaces": self.replace_command,
            "notes": self.notes, "applied": self.applied, "ready": self.ready, "manifests": self.manifests,
        }


def _check_request(req: DeployRequest) -> None:
    if req.replicas is not None and (req.min_replicas is not None or req.max_replicas is not None):
        raise DeployRefused("give either --replicas or --min-replicas/--max-replicas, not both",
                            "--replicas N for a fixed count; --min-replicas A --max-replicas B to autoscale")
    for flag, value in (("--replicas", req.replicas), ("--min-replicas", req.min_replicas), ("--max-replicas", req.max_replicas)):
        if value is not None and value < 1:
            raise DeployRefused(f"{flag} {value}: at least 1", f"give {flag} 1 or more")
    if req.min_replicas and req.max_replicas and req.min_replicas > req.max_replicas:
        raise DeployRefused(f"--min-replicas {req.min_replicas} is above --max-replicas {req.max_replicas}",
                            "give a minimum no larger than the maximum")
    if req.rollout is not None and req.rollout not in ROLLOUTS:
        raise DeployRefused(f"unknown rollout {req.rollout!r}", f"use one of {', '.join(ROLLOUTS)}")
    if req.autoscale is not None and req.autoscale not in AUTOSCALERS:
        raise DeployRefused(f"unknown autoscaler {req.autoscale!r}", f"use one of {', '.join(AUTOSCALERS)}")


def _gateway(value: str | None) -> GatewayRef | None:
    if value is None:
        return None
    namespace, sep, name = value.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise DeployRefused(f"--gateway-api {value!r} is not NAMESPACE/NAME of a Gateway",
                            "e.g. --gateway-api gateway-system/inference (kubectl get gateways -A)")
    return GatewayRef(namespace, name)


def _registry_ca(gallery: Gallery) -> str | None:
    if not gallery.settings.ca_file:
        return None
    try:
        return Path(gallery.settings.ca_file).expanduser().read_text()
    except OSError as exc:
        raise DeployRefused(f"cannot read the registry CA {gallery.settings.ca_file}: {exc.strerror}",
                            "fix the gallery's ca_file (or --ca-file) so the cluster can be given the CA") from exc


def _governance(req: DeployRequest, gallery: Gallery, model: str, repo: Any, manifest: Any) -> tuple[str, dict[str, str]]:
    """The same 'validated' as `models pull --require-validated` (reports.validation_state)."""
    if not req.require_validated:
        if gallery.settings.production:
            raise NotValidated(
                f"{gallery.settings.store} is a production gallery: its revisions are deployed validated or not at all",
                "drop --no-require-validated and validate the revision (pais models validate ... --digest ...)",
            )
        return "not required (--no-require-validated)", {VALIDATION_ANNOTATION: "not-required: deployed with --no-require-validated"}
    require_validation(repo, manifest, model, f"{model}@{manifest.digest[:19]}", gallery.settings.store,
                       "deploy with --no-require-validated (recorded on every object)")
    return "validated", {}


def _observe(req: DeployRequest, name: str, kubectl: Kubectl | None, notes: list[str]) -> observe.Observed:
    if kubectl is not None:
        try:
            return observe.from_cluster(kubectl, name, req.namespace)
        except Unreachable as exc:
            if req.require_cluster:
                raise
            notes.append(f"cluster not read ({exc.message}): preflight skipped")
    return observe.from_manifests(req.manifests_dir, name)


def swap_facts(ep: Endpoint, seen: observe.Observed, given_volume: int | None, notes: list[str]) -> None:
    """Previous revision, revisions to keep, and a claim that never shrinks, from what is there."""
    served, before = seen.served_digest, seen.previous_digest
    ep.previous_digest = before if served == ep.digest else served
    if ep.shared_volume:
        assert ep.info is not None
        claim = storage.volume_name(ep)
        pvc = seen.find("PersistentVolumeClaim", claim)
        existing = seen.claim_bytes(claim)
        need = storage.volume_need(ep.info.files_bytes)
        ep.volume_bytes = max(b for b in (existing, need, given_volume) if b is not None)
        if existing and ep.volume_bytes == existing and existing > need:
            notes.append(f"volume {claim} stays {existing // GIB}Gi ({seen.where}): a claim never shrinks")
        if pvc is not None:
            old_class = pvc["spec"].get("storageClassName")
            if ep.storage_class and old_class and old_class != ep.storage_class:
                raise DeployRefused(
                    f"volume {claim} has StorageClass {old_class}, and a claim's storageClassName is immutable",
                    f"deploy with --storage-class {old_class}, or delete the endpoint first (pais endpoints delete)",
                )
            ep.storage_class = ep.storage_class or old_class
        if seen.where == "nothing":
            ep.keep_digests = None
            notes.append("nothing known about what is deployed (no cluster read, no --manifests-dir): "
                         "the fill Job prunes no revision; give --manifests-dir or --apply next time")
        else:
            ep.keep_digests = [d for d in (ep.previous_digest,) if d]


def plan_deployment(req: DeployRequest, gallery: Gallery | None, kubectl_executable: str = "kubectl") -> DeployPlan:
    """Decide and render; nothing is applied. `gallery` is None only for an NGC model."""
    routing = parse_routing_name(req.routing_name)
    _check_request(req)
    notes: list[str] = []
    kubectl = Kubectl(kubectl_executable) if req.read_cluster else None
    seen = _observe(req, object_name(routing), kubectl, notes)
    if req.nim.ngc_model:
        plan, ep = _plan_ngc(req, routing, seen)
    else:
        plan, ep = _plan_gallery(req, gallery, routing, seen, notes)
    plan.notes = notes + plan.notes
    _engine_move(plan, seen)
    _preflight(plan, ep, req, kubectl, seen)
    return plan


def _engine_move(plan: DeployPlan, seen: observe.Observed) -> None:
    """A routing name moved between a plain engine and the NIM changes the kind that serves it:
    the NIM Operator makes its own Service of the same name, so the old serving objects go
    first (a gap while the new engine loads). Between plain engines it is an in-place update."""
    old = seen.serving()
    new_kind = "NIMService" if plan.engine == "nim" else "Deployment"
    if old is None or old["kind"] == new_kind:
        return
    name = plan.name
    if old["kind"] == "Deployment":
        plan.replaces = [f"deployment/{name}", f"service/{name}", f"horizontalpodautoscaler/{name}",
                         f"poddisruptionbudget/{name}", f"scaledobject.keda.sh/{name}"]
    else:
        plan.replaces = [f"nimservice.apps.nvidia.com/{name}"]
    plan.notes.append(f"engine move: {old['kind']} -> {new_kind}; the old serving objects are deleted before the new ones "
                      "are applied, so the name answers again once the new engine has loaded")


def _endpoint_options(req: DeployRequest) -> dict[str, Any]:
    return {"storage_class": req.storage_class, "autoscale": req.autoscale, "prometheus_url": req.prometheus_url,
            "network_policy": req.network_policy, "gateway_namespace": req.gateway_namespace,
            "gateway": _gateway(req.gateway_api), "rollout": req.rollout or "surge"}


def render(ep: Endpoint, opts: nim.NimOptions) -> list[K8sObject]:
    if ep.engine == "nim":
        return nim.render_gallery(ep, opts) if ep.digest else nim.render_ngc(ep, opts)
    return render_plain(ep)


def _plan_gallery(req: DeployRequest, gallery: Gallery | None, routing: RoutingName, seen: observe.Observed,
                  notes: list[str]) -> tuple[DeployPlan, Endpoint]:
    if gallery is None or req.model is None or req.ref is None:
        raise DeployRefused("no revision to deploy", "give --modelName, --modelStore and --tag or --digest (or --nim-model)")
    if gallery.kind != "registry":
        raise DeployRefused(
            f"{gallery.store.description} is a gallery on disk, which a cluster cannot pull from",
            f"promote the revision to a registry first (pais models promote --modelName {req.model} "
            f"--from {gallery.settings.store} --to HOST/PROJECT "
            f"{'--digest ' + req.ref.digest if req.ref.digest else '--tag ' + str(req.ref.tag)}), and deploy from there",
        )
    check_model_name(req.model)
    repo = gallery.store.repository(req.model)
    digest = repo.resolve(req.ref.reference)  # the tag is read once; everything below uses the digest
    manifest = repo.fetch_manifest(digest)
    validation, governance = _governance(req, gallery, req.model, repo, manifest)
    if governance:
        notes.append("warning: --no-require-validated: the revision is deployed without a validation requirement "
                     f"(recorded as {VALIDATION_ANNOTATION} on every object)")
    files: list[ModelFile] = model_files(manifest)
    info = detect_revision(repo, manifest, req.model_type)
    explicit = None if req.engine == "auto" else req.engine
    placement = place(info, gpus=req.gpus, gpu_model=req.gpu_model, vgpu=req.vgpu, vgpu_profile_name=req.vgpu_profile,
                      engine=explicit, allow_multi_node=explicit == "nim")
    choice = choose_engine(info, placement.target, explicit)
    location = parse_registry(gallery.settings.store)
    if is_loopback(location.host):
        notes.append(f"warning: the registry {location.host} is a loopback address; pods pull from it only "
                     "if the cluster runs on this machine. Deploy from a registry the cluster can reach.")
    ca = _registry_ca(gallery)
    # Plain HTTP when the gallery says so, or when pais itself found the registry speaks no TLS.
    source = FetchSource(location.host, location.repository(req.model), digest, gallery.store.plain_http,
                         req.pull_secret, ca is not None)
    ep = Endpoint(
        routing=routing, engine=choice.engine, image=req.image, fetch_image=req.fetch_image or FETCH_IMAGE, info=info,
        placement=placement, namespace=req.namespace, model=req.model, store=gallery.settings.store, tag=req.ref.tag,
        digest=digest, source=source, files=files, registry_ca=ca, replicas=req.replicas, min_replicas=req.min_replicas,
        max_replicas=req.max_replicas, pull_secret=req.pull_secret, node_selector=req.node_selector,
        extra_annotations=governance, **_endpoint_options(req),
    )
    if ep.engine == "nim":
        ep.storage_class = req.storage_class or req.nim.storage_class
    swap_facts(ep, seen, req.volume_bytes, notes)
    _pin_note(req.image, notes)
    manifests = render(ep, req.nim)
    notes += [f"warning: {w}" for w in placement.warnings]
    plan = DeployPlan(str(routing), ep.name, choice.engine, choice.reason, source.reference, req.model, digest,
                      req.ref.tag, placement, info, manifests, req.namespace, [], storage=storage_note(ep),
                      previous_digest=ep.previous_digest, validation=validation)
    return plan, ep


def _pin_note(image: str | None, notes: list[str]) -> None:
    if image and "@sha256:" not in image:
        notes.append(f"warning: --image {image} is not pinned by digest: a re-tag upstream changes what runs "
                     "(give IMAGE@sha256:...)")


def _plan_ngc(req: DeployRequest, routing: RoutingName, seen: observe.Observed) -> tuple[DeployPlan, Endpoint]:
    if req.engine not in ("auto", "nim"):
        raise DeployRefused(f"--nim-model is served by the NIM Operator, not {req.engine}", "drop --engine or give --engine nim")
    if req.model or req.ref:
        raise DeployRefused("give either a gallery revision (--modelName/--tag) or --nim-model, not both",
                            "an NGC model is cached by a NIMCache; a gallery revision is filled into a PVC")
    image = req.nim.ngc_model or ""
    if not image.startswith("nvcr.io/") or ":" not in image.rsplit("/", 1)[-1]:
        raise DeployRefused(f"--nim-model {image!r} is not an NGC NIM image with a tag",
                            "write nvcr.io/nim/<org>/<model>:<version>, e.g. nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3")
    if not req.nim.ngc_profile:
        raise DeployRefused("no NIM profile given: the cache would hold whatever profile NGC picks",
                            "pin one with --nim-profile ID (list them with `docker run --rm IMAGE list-model-profiles`)")
    weights, why = nim.ngc_weights(image, req.nim.weights_bytes)
    info = ModelInfo(model_type=req.model_type or "completion", type_reason="NGC NIM" if not req.model_type else "given with --modelType",
                     weight_format="nim", weight_files=[], weight_bytes=weights, size_reason=why, files_bytes=weights)
    placement = place(info, gpus=req.gpus, gpu_model=req.gpu_model, vgpu=req.vgpu, vgpu_profile_name=req.vgpu_profile,
                      engine="nim", allow_multi_node=True)
    req.nim.weights_bytes = weights
    req.nim.storage_class = req.nim.storage_class or req.storage_class
    options = _endpoint_options(req)
    options["storage_class"] = None  # the NIMCache makes its own claim (nim.storage_class)
    ep = Endpoint(routing=routing, engine="nim", image=image, fetch_image="", info=info, placement=placement,
                  namespace=req.namespace, replicas=req.replicas, min_replicas=req.min_replicas,
                  max_replicas=req.max_replicas, pull_secret=req.pull_secret, node_selector=req.node_selector, **options)
    manifests = nim.render_ngc(ep, req.nim)
    notes = [f"warning: {w}" for w in placement.warnings]
    cache = next(m for m in manifests if m["kind"] == "NIMCache")["metadata"]["name"]
    old = [o["metadata"]["name"] for o in seen.objects if o.get("kind") == "NIMCache" and o["metadata"]["name"] != cache]
    plan = DeployPlan(str(routing), ep.name, "nim", "--nim-model: NGC NIM through NIMCache and NIMService",
                      image, None, None, None, placement, info, manifests, req.namespace, notes,
                      storage=f"NIMCache {cache} (ReadWriteMany, made by the NIM Operator)", validation="NGC model (no gallery revision)")
    if old or seen.where == "nothing":
        # After the NIMService serves from the new cache, the others can go (an upgrade's old version).
        plan.old_caches = nim.old_caches_selector(ep, cache)
        if old:
            plan.notes.append(f"upgrade: new NIMCache {cache}; the NIMService moves to it, then {', '.join(old)} can be deleted")
    return plan, ep


def _preflight(plan: DeployPlan, ep: Endpoint, req: DeployRequest, kubectl: Kubectl | None, seen: observe.Observed) -> None:
    """Against the cluster when it was read: refuse what cannot fit; choose the rollout."""
    if kubectl is None or seen.where != "cluster":
        plan.rollout = rollout.describe(ep) if plan.engine != "nim" else None
        return
    facts = gather(kubectl, req.namespace, seen.objects)
    surge = ep.rollout == "surge" and plan.engine != "nim"
    report = preflight(plan.placement, plan.engine, plan.manifests, facts, surge)
    if surge and not report.surge_fits:
        if req.rollout == "surge":
            raise DeployRefused("--rollout surge: one more pod does not fit the namespace's quota during the swap",
                                "use --rollout recreate (no spare capacity needed), or free one pod's worth of quota")
        ep.rollout = "recreate"
        plan.manifests = render(ep, req.nim)
        report.notes.append("rollout: recreate, because a surge pod does not fit the quota (--rollout surge to insist)")
    plan.preflight = report.notes
    plan.rollout = rollout.describe(ep) if plan.engine != "nim" else None


def _owner_conflict(plan: DeployPlan, kubectl: Kubectl) -> None:
    """Refuse to overwrite an object that another routing name maps to (the mapping is lossy)."""
    for m in plan.manifests:
        if m["kind"] not in ("Deployment", "NIMService"):
            continue
        kind = "nimservices.apps.nvidia.com" if m["kind"] == "NIMService" else "deployments"
        found = kubectl.get_json(f"{kind}/{m['metadata']['name']}", namespace=plan.namespace, ok_missing=True)
        existing = ((found.get("metadata") or {}).get("annotations") or {}).get(ROUTING_ANNOTATION)
        if existing and existing != plan.routing_name:
            raise DeployRefused(
                f"{m['kind']} {m['metadata']['name']} already serves {existing}, another routing name with the same object name",
                "choose a routing name that maps to another object name (see docs/endpoints.md), or delete the other endpoint",
            )


FIRST_KINDS = ("ConfigMap", "PersistentVolumeClaim", "Job", "NIMCache")  # what must exist before serving starts


def apply_plan(plan: DeployPlan, kubectl_executable: str = "kubectl", wait: bool = False, timeout_s: int = 1800) -> None:
    """Server-side dry run of everything, then kubectl apply in order; what must exist first (a
    filled volume, a cache) is waited for. `kubectl_executable`: the user's kubectl."""
    kubectl = Kubectl(kubectl_executable)
    _owner_conflict(plan, kubectl)
    ns = plan.namespace
    kubectl.apply(plan.yaml, ns, server_dry_run=True)  # nothing is stored unless all of it is admitted
    for resource in plan.replaces:
        try:
            kubectl.delete([resource], ns)
        except MissingCRD:
            pass  # that operator is not installed: nothing of that kind to delete
    first = [m for m in plan.manifests if m["kind"] in FIRST_KINDS]
    rest = [m for m in plan.manifests if m not in first]
    waits = [m for m in first if m["kind"] in ("Job", "NIMCache")]
    if waits:
        kubectl.apply(to_yaml(first), ns)
        for m in waits:
            if m["kind"] == "Job":
                kubectl.wait(f"job/{m['metadata']['name']}", "condition=complete", timeout_s, ns)
            else:
                kubectl.wait(f"nimcache.apps.nvidia.com/{m['metadata']['name']}", "jsonpath={.status.state}=Ready", timeout_s, ns)
        kubectl.apply(to_yaml(rest), ns)
    else:
        kubectl.apply(plan.yaml, ns)
    plan.applied = True
    if wait:
        if plan.engine == "nim":
            kubectl.wait(f"nimservice.apps.nvidia.com/{plan.name}", "jsonpath={.status.state}=Ready", timeout_s, ns)
        else:
            kubectl.wait(f"deployment/{plan.name}", "condition=Available", timeout_s, ns)
        plan.ready = True
        if plan.old_caches:
            # The NIMService serves from the new cache now: the old ones (and their volumes) go.
            kubectl.delete(["nimcaches.apps.nvidia.com"], ns, selector=plan.old_caches)
            plan.old_caches = None


@dataclass
class DeletePlan:
    routing_name: str
    namespace: str | None
    objects: list[str]
    command: str
    applied: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"routing_name": self.routing_name, "namespace": self.namespace, "objects": self.objects,
                "command": self.command, "applied": self.applied}


def delete_endpoint(routing_name: str, namespace: str | None = None, apply: bool = False,
                    kubectl_executable: str = "kubectl") -> DeletePlan:
    """What deploy created for a routing name, by name and label; deleted with apply=True.

    The model volume (`-model` PVC, the NIMCaches) goes too: a revision can be filled again from
    the gallery. `kubectl_executable`: the user's kubectl, for apply=True.
    """
    routing = parse_routing_name(routing_name)
    name = object_name(routing)
    crd_objects = [f"nimservice.apps.nvidia.com/{name}", f"scaledobject.keda.sh/{name}",
                   f"httproute.gateway.networking.k8s.io/{name}"]
    objects = [f"deployment/{name}", f"service/{name}", f"horizontalpodautoscaler/{name}",
               f"poddisruptionbudget/{name}", f"networkpolicy/{name}", f"configmap/{object_name(routing, '-registry-ca')}"]
    claim = [f"persistentvolumeclaim/{object_name(routing, '-model')}"]
    # Fill Jobs and NGC caches carry the revision or version in their names: selected by label.
    job_selector = f"app.kubernetes.io/instance={name},app.kubernetes.io/component=model-fill"
    cache_selector = f"app.kubernetes.io/instance={name},app.kubernetes.io/component={nim.CACHE_COMPONENT}"
    ns = f" -n {namespace}" if namespace else ""
    command = (f"kubectl delete --ignore-not-found{ns} {' '.join(crd_objects)}\n"
               f"kubectl delete --ignore-not-found{ns} {' '.join(objects)}\n"
               f"kubectl delete --ignore-not-found{ns} nimcaches.apps.nvidia.com -l {cache_selector}\n"
               f"kubectl delete --ignore-not-found{ns} job -l {job_selector}\n"
               f"kubectl delete --ignore-not-found{ns} {' '.join(claim)}")
    plan = DeletePlan(str(routing), namespace, crd_objects + objects + claim
                      + [f"nimcaches -l {cache_selector}", f"job -l {job_selector}"], command)
    if apply:
        kubectl = Kubectl(kubectl_executable)
        # Serving objects first, so no pod still holds the volume when its claim is deleted.
        for crd_object in crd_objects:
            try:
                kubectl.delete([crd_object], namespace)
            except MissingCRD:
                pass  # that operator is not installed: nothing of that kind to delete
        kubectl.delete(objects, namespace)
        try:
            kubectl.delete(["nimcaches.apps.nvidia.com"], namespace, selector=cache_selector)
        except MissingCRD:
            pass
        kubectl.delete(["job"], namespace, selector=job_selector)
        kubectl.delete(claim, namespace)
        plan.applied = True
    return plan


TagResolver = Callable[[str, str, str], str]  # (store, model, tag) -> digest


def gallery_tag_resolver(ctx: Context) -> TagResolver:
    """Resolves a tag in the gallery an endpoint came from (opened once per store)."""
    opened: dict[str, Gallery] = {}

    def resolve(store: str, model: str, tag: str) -> str:
        if store not in opened:
            opened[store] = open_gallery(ctx, store)
        return opened[store].store.repository(model).resolve(RevisionRef(tag=tag).reference)

    return resolve


def list_endpoints(*, namespace: str | None = None, all_namespaces: bool = False, cluster: bool = True,
                   gateway: str | None = None, gateway_api_key: str | None = None, api_key_source: str | None = None,
                   kubectl_executable: str = "kubectl", resolve_tag: TagResolver | None = None) -> list[listing.EndpointStatus]:
    """What serves which routing name: the endpoints pais deployed in the cluster (with whether
    the tag each came from still points at the digest it serves), and/or the names an
    OpenAI-compatible gateway reports."""
    rows: list[listing.EndpointStatus] = []
    if cluster:
        found = listing.from_cluster(namespace, all_namespaces, kubectl_executable=kubectl_executable)
        if resolve_tag is not None:
            for row in found:
                if row.store and row.model and row.tag and row.digest:
                    try:
                        row.tag_digest = resolve_tag(row.store, row.model, row.tag)
                    except (PaisError, OSError):
                        row.tag_digest = None  # the gallery cannot be asked now: staleness unknown
                    row.stale = None if row.tag_digest is None else row.tag_digest != row.digest
        rows += found
    if gateway:
        rows += listing.from_gateway(gateway, gateway_api_key, api_key_source=api_key_source)
    return rows


__all__ = ["DeployPlan", "DeployRequest", "KubectlError", "NotValidated", "apply_plan", "delete_endpoint",
           "gallery_tag_resolver", "list_endpoints", "plan_deployment"]
