"""`endpoints deploy` and `endpoints delete`: the orchestration, over runtime/'s pure parts.

plan_deployment: routing name -> resolve the tag to a digest once -> read the revision's facts
(type, format, size; headers only) -> placement -> engine -> manifests that pin the digest.
apply_plan: kubectl apply in dependency order, optionally waiting for readiness.
delete_endpoint: what deploy created for a routing name, deleted through kubectl.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..gallery.modelpack import ModelFile, model_files
from ..gallery.reference import RevisionRef, check_model_name, parse_registry
from ..gallery.stores.registry import is_loopback
from ..runtime import listing, nim
from ..runtime.detect import ModelInfo, detect_revision
from ..runtime.engines import choose_engine
from ..runtime.errors import DeployRefused, MissingCRD
from ..runtime.fetch import FETCH_IMAGE, FetchSource
from ..runtime.kubectl import Kubectl
from ..runtime.kubernetes import Endpoint, K8sObject, render_plain, to_yaml
from ..runtime.placement import Placement, place
from ..runtime.routing import ROUTING_ANNOTATION, RoutingName, object_name, parse_routing_name
from .galleries import Gallery


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
    replicas: int | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    namespace: str | None = None
    pull_secret: str | None = None
    image: str | None = None  # None: the engine's pinned default
    fetch_image: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    nim: nim.NimOptions = field(default_factory=nim.NimOptions)


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
    applied: bool = False
    ready: bool | None = None

    @property
    def yaml(self) -> str:
        return to_yaml(self.manifests)

    def to_json(self) -> dict[str, Any]:
        return {
            "routing_name": self.routing_name, "name": self.name, "namespace": self.namespace, "engine": self.engine,
            "engine_reason": self.engine_reason, "source": self.source, "model": self.model, "digest": self.digest,
            "tag": self.tag, "placement": self.placement.to_json(), "model_info": self.info.to_json() if self.info else None,
            "objects": [{"kind": m["kind"], "name": m["metadata"]["name"]} for m in self.manifests],
            "notes": self.notes, "applied": self.applied, "ready": self.ready, "manifests": self.manifests,
        }


def _check_replicas(req: DeployRequest) -> None:
    if req.replicas is not None and (req.min_replicas is not None or req.max_replicas is not None):
        raise DeployRefused("give either --replicas or --min-replicas/--max-replicas, not both",
                            "--replicas N for a fixed count; --min-replicas A --max-replicas B to autoscale")
    for flag, value in (("--replicas", req.replicas), ("--min-replicas", req.min_replicas), ("--max-replicas", req.max_replicas)):
        if value is not None and value < 1:
            raise DeployRefused(f"{flag} {value}: at least 1", f"give {flag} 1 or more")
    if req.min_replicas and req.max_replicas and req.min_replicas > req.max_replicas:
        raise DeployRefused(f"--min-replicas {req.min_replicas} is above --max-replicas {req.max_replicas}",
                            "give a minimum no larger than the maximum")


def _registry_ca(gallery: Gallery) -> str | None:
    if not gallery.settings.ca_file:
        return None
    try:
        return Path(gallery.settings.ca_file).expanduser().read_text()
    except OSError as exc:
        raise DeployRefused(f"cannot read the registry CA {gallery.settings.ca_file}: {exc.strerror}",
                            "fix the gallery's ca_file (or --ca-file) so the cluster can be given the CA") from exc


def plan_deployment(req: DeployRequest, gallery: Gallery | None) -> DeployPlan:
    """Decide and render; nothing is applied. `gallery` is None only for an NGC model."""
    routing = parse_routing_name(req.routing_name)
    _check_replicas(req)
    if req.nim.ngc_model:
        return _plan_ngc(req, routing)
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
    files: list[ModelFile] = model_files(manifest)
    info = detect_revision(repo, manifest, req.model_type)
    explicit = None if req.engine == "auto" else req.engine
    placement = place(info, gpus=req.gpus, gpu_model=req.gpu_model, vgpu=req.vgpu, engine=explicit,
                      allow_multi_node=explicit == "nim")
    choice = choose_engine(info, placement.target, explicit)
    location = parse_registry(gallery.settings.store)
    notes: list[str] = []
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
    )
    manifests = nim.render_gallery(ep, req.nim) if choice.engine == "nim" else render_plain(ep)
    notes += [f"warning: {w}" for w in placement.warnings]
    return DeployPlan(str(routing), ep.name, choice.engine, choice.reason, source.reference, req.model, digest,
                      req.ref.tag, placement, info, manifests, req.namespace, notes)


def _plan_ngc(req: DeployRequest, routing: RoutingName) -> DeployPlan:
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
    placement = place(info, gpus=req.gpus, gpu_model=req.gpu_model, vgpu=req.vgpu, engine="nim", allow_multi_node=True)
    req.nim.weights_bytes = weights
    ep = Endpoint(routing=routing, engine="nim", image=image, fetch_image="", info=info, placement=placement,
                  namespace=req.namespace, replicas=req.replicas, min_replicas=req.min_replicas,
                  max_replicas=req.max_replicas, pull_secret=req.pull_secret, node_selector=req.node_selector)
    manifests = nim.render_ngc(ep, req.nim)
    notes = [f"warning: {w}" for w in placement.warnings]
    return DeployPlan(str(routing), ep.name, "nim", "--nim-model: NGC NIM through NIMCache and NIMService",
                      image, None, None, None, placement, info, manifests, req.namespace, notes)


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


def apply_plan(plan: DeployPlan, kubectl_executable: str = "kubectl", wait: bool = False, timeout_s: int = 1800) -> None:
    """kubectl apply in order; what must exist first (a filled volume, a cache) is waited for.
    `kubectl_executable`: the user's kubectl, a name on PATH or a path."""
    kubectl = Kubectl(kubectl_executable)
    _owner_conflict(plan, kubectl)
    ns = plan.namespace
    first = [m for m in plan.manifests if m["kind"] not in ("NIMService", "Deployment", "Service", "HorizontalPodAutoscaler")]
    rest = [m for m in plan.manifests if m not in first]
    if plan.engine == "nim" and first:
        kubectl.apply(to_yaml(first), ns)
        for m in first:
            if m["kind"] == "Job":
                kubectl.wait(f"job/{m['metadata']['name']}", "condition=complete", timeout_s, ns)
            elif m["kind"] == "NIMCache":
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

    The model volume of the NIM path (`-model` PVC, `-cache` NIMCache) goes too: a revision can
    be filled again from the gallery. `kubectl_executable`: the user's kubectl, for apply=True.
    """
    routing = parse_routing_name(routing_name)
    name = object_name(routing)
    objects = [f"deployment/{name}", f"service/{name}", f"horizontalpodautoscaler/{name}",
               f"configmap/{object_name(routing, '-registry-ca')}", f"nimservice.apps.nvidia.com/{name}",
               f"nimcache.apps.nvidia.com/{object_name(routing, '-cache')}",
               f"persistentvolumeclaim/{object_name(routing, '-model')}"]
    # Fill Jobs carry the revision in their names: select them by label instead.
    job_selector = f"app.kubernetes.io/instance={name},app.kubernetes.io/component=model-fill"
    ns = f" -n {namespace}" if namespace else ""
    command = (f"kubectl delete --ignore-not-found{ns} {' '.join(objects[4:6])}\n"
               f"kubectl delete --ignore-not-found{ns} {' '.join(objects[:4])}\n"
               f"kubectl delete --ignore-not-found{ns} job -l {job_selector}\n"
               f"kubectl delete --ignore-not-found{ns} {' '.join(objects[6:])}")
    plan = DeletePlan(str(routing), namespace, objects + [f"job -l {job_selector}"], command)
    if apply:
        kubectl = Kubectl(kubectl_executable)
        # Serving objects first, so no pod still holds the volume when its claim is deleted.
        for crd_object in objects[4:6]:
            try:
                kubectl.delete([crd_object], namespace)
            except MissingCRD:
                pass  # no NIM Operator in this cluster: nothing of that kind to delete
        kubectl.delete(objects[:4], namespace)
        kubectl.delete(["job"], namespace, selector=job_selector)
        kubectl.delete(objects[6:], namespace)
        plan.applied = True
    return plan


def list_endpoints(*, namespace: str | None = None, all_namespaces: bool = False, cluster: bool = True,
                   gateway: str | None = None, gateway_api_key: str | None = None, api_key_source: str | None = None,
                   kubectl_executable: str = "kubectl") -> list[listing.EndpointStatus]:
    """What serves which routing name: the endpoints pais deployed in the cluster, and/or the
    names an OpenAI-compatible gateway reports."""
    rows: list[listing.EndpointStatus] = []
    if cluster:
        rows += listing.from_cluster(namespace, all_namespaces, kubectl_executable=kubectl_executable)
    if gateway:
        rows += listing.from_gateway(gateway, gateway_api_key, api_key_source=api_key_source)
    return rows
