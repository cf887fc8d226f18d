"""`pais endpoints ...`: deploy a pinned revision under a routing name, list and delete endpoints."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from . import settings
from .help import CONTEXT_SETTINGS, examples
from .options import (
    CaFileOpt,
    DebugOpt,
    DigestOpt,
    ModelStoreOpt,
    OptionalModelNameOpt,
    OutputFormat,
    OutputOpt,
    PlainHttpOpt,
    QuietOpt,
    TagOpt,
    VerboseOpt,
)

app = typer.Typer(help="Serve gallery revisions as OpenAI-compatible endpoints on Kubernetes.", no_args_is_help=True,
                  rich_markup_mode=None, context_settings=CONTEXT_SETTINGS)


class Engine(str, Enum):
    auto = "auto"
    vllm = "vllm"
    infinity = "infinity"
    llamacpp = "llamacpp"
    nim = "nim"


class ModelType(str, Enum):
    completion = "completion"
    embedding = "embedding"


class GpuModel(str, Enum):
    A100 = "A100"
    A100_40GB = "A100-40GB"
    H100 = "H100"
    H100_NVL = "H100-NVL"
    H100_PCIE = "H100-PCIe"
    H200 = "H200"
    H200_NVL = "H200-NVL"
    L40S = "L40S"


class Rollout(str, Enum):
    surge = "surge"
    recreate = "recreate"


class Autoscale(str, Enum):
    keda = "keda"
    hpa = "hpa"


RoutingNameOpt = Annotated[str, typer.Option("--routingName", "--routing-name", "-r", metavar="NAME",
                                             help="Stable name applications use: provider/model_id, e.g. openai/gpt-oss-20b.")]
NamespaceOpt = Annotated[Optional[str], typer.Option("--namespace", "-n", metavar="NAMESPACE", help="Kubernetes namespace (default: kubectl's).")]


def _node_selector(values: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values or []:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise UsageError(f"--node-selector {value!r} is not KEY=VALUE", "e.g. --node-selector nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3")
        out[key] = val
    return out


@app.command(epilog=examples(
    "pais endpoints deploy -m baai/bge-small:prod -s prod \\",
    "    --routingName baai/bge-small --manifests-dir ./deploy",
    "pais endpoints deploy -m acme/llama:v1 -s prod -r acme/llama --apply --wait",
    "pais endpoints deploy -r meta/llama3 --dry-run \\",
    "    --nim-model nvcr.io/nim/meta/llama3:1.0",
))
def deploy(
    routing_name: RoutingNameOpt,
    model_name: OptionalModelNameOpt = None,
    model_store: ModelStoreOpt = None,
    tag: TagOpt = None,
    digest: DigestOpt = None,
    engine: Annotated[Engine, typer.Option("--engine", "-e", metavar="ENGINE", help="auto: vLLM (completion, GPU), Infinity (embedding), llama.cpp (GGUF, CPU).")] = Engine.auto,
    model_type: Annotated[Optional[ModelType], typer.Option("--modelType", "--model-type", metavar="TYPE", help="Override the type read from the revision.")] = None,
    gpus: Annotated[Optional[int], typer.Option("--gpus", metavar="N", help="GPUs per replica (0 = CPU); default: placement decides.")] = None,
    gpu_model: Annotated[Optional[GpuModel], typer.Option("--gpu-model", "--gpuModel", metavar="GPU", help="GPU the nodes have, for sizing and node affinity.")] = None,
    vgpu: Annotated[bool, typer.Option("--vgpu", help="The GPUs are vGPU profiles (not passthrough).")] = False,
    vgpu_profile: Annotated[Optional[str], typer.Option("--vgpu-profile", "--vgpuProfile", metavar="PROFILE", help="vGPU profile the nodes have, e.g. L40S-24Q, H100XM-80C (implies --vgpu).")] = None,
    replicas: Annotated[Optional[int], typer.Option("--replicas", metavar="N", help="Fixed number of replicas.")] = None,
    min_replicas: Annotated[Optional[int], typer.Option("--min-replicas", "--minReplicas", metavar="N", help="Autoscale: fewest replicas.")] = None,
    max_replicas: Annotated[Optional[int], typer.Option("--max-replicas", "--maxReplicas", metavar="N", help="Autoscale: most replicas.")] = None,
    namespace: NamespaceOpt = None,
    pull_secret: Annotated[Optional[str], typer.Option("--pull-secret", "--pullSecret", metavar="SECRET", help="docker-registry Secret with credentials for the gallery's registry.")] = None,
    manifests_dir: Annotated[Optional[Path], typer.Option("--manifests-dir", "--manifestsDir", metavar="DIR", help="Write the manifests to DIR/<name>.yaml instead of stdout.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="kubectl apply the manifests.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="With --apply: wait until the endpoint is ready.")] = False,
    timeout: Annotated[int, typer.Option("--timeout", metavar="SECONDS", help="Seconds --wait (and NIM fills) may take.")] = 1800,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the placement and engine reasoning; emit and apply nothing.")] = False,
    image: Annotated[Optional[str], typer.Option("--image", metavar="IMAGE", help="Engine image instead of the pinned default.")] = None,
    fetch_image: Annotated[Optional[str], typer.Option("--fetch-image", metavar="IMAGE", help="ORAS CLI image for the model fetch.")] = None,
    node_selector: Annotated[Optional[list[str]], typer.Option("--node-selector", metavar="KEY=VALUE", help="KEY=VALUE node label the pods need; repeatable.")] = None,
    nim_model: Annotated[Optional[str], typer.Option("--nim-model", "--nimModel", metavar="IMAGE", help="NGC NIM image (nvcr.io/nim/...:tag) instead of a gallery revision.")] = None,
    nim_profile: Annotated[Optional[str], typer.Option("--nim-profile", "--nimProfile", metavar="PROFILE", help="NIM profile ID to pin in the NIMCache.")] = None,
    weights_size: Annotated[Optional[str], typer.Option("--weights-size", metavar="SIZE", help="NGC model weight size, e.g. 16GiB (default: from the name).")] = None,
    auth_secret: Annotated[str, typer.Option("--auth-secret", metavar="SECRET", help="NIM: Secret with NGC_API_KEY.")] = "ngc-api-secret",
    ngc_pull_secret: Annotated[str, typer.Option("--ngc-pull-secret", metavar="SECRET", help="NIM: docker-registry Secret for nvcr.io.")] = "ngc-secret",
    storage_class: Annotated[Optional[str], typer.Option("--storage-class", metavar="CLASS", help="A ReadWriteMany StorageClass: one shared model volume per routing name, filled once per revision (NIM: its volume's class).")] = None,
    volume_size: Annotated[Optional[str], typer.Option("--volume-size", metavar="SIZE", help="Shared model volume size, e.g. 500Gi (it never shrinks).")] = None,
    rollout: Annotated[Optional[Rollout], typer.Option("--rollout", metavar="KIND", help="surge (a spare pod during a swap; default where capacity allows) or recreate (no spare GPU).")] = None,
    autoscale: Annotated[Optional[Autoscale], typer.Option("--autoscale", metavar="KIND", help="With --min/--max-replicas on a GPU: keda (ScaledObject, default) or hpa (custom metric) on the engine's request queue.")] = None,
    prometheus_url: Annotated[str, typer.Option("--prometheus-url", metavar="URL", help="Prometheus the autoscaler queries.")] = "http://prometheus-operated.monitoring.svc:9090",
    network_policy: Annotated[bool, typer.Option("--network-policy", help="A NetworkPolicy admitting only the gateway's namespace.")] = False,
    gateway_namespace: Annotated[Optional[str], typer.Option("--gateway-namespace", metavar="NAMESPACE", help="The gateway's namespace, for --network-policy.")] = None,
    gateway_api: Annotated[Optional[str], typer.Option("--gateway-api", metavar="NAMESPACE/NAME", help="A Gateway: an HTTPRoute maps the routing name to the Service.")] = None,
    require_validated: Annotated[bool, typer.Option("--require-validated/--no-require-validated", help="Refuse a revision without a passing validation report (default on; a production gallery always requires it).")] = True,
    ingress_class: Annotated[Optional[str], typer.Option("--ingress-class", metavar="CLASS", help="NIM: expose through expose.router with this IngressClass.")] = None,
    host_domain: Annotated[Optional[str], typer.Option("--host-domain", metavar="DOMAIN", help="NIM: expose.router host domain (<name>.<ns>.<domain>).")] = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    ca_file: CaFileOpt = None,
    plain_http: PlainHttpOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Bind a routing name to a pinned revision: Kubernetes manifests for the engine that fits it."""
    from ..app.deploy import DeployRequest, apply_plan, plan_deployment
    from ..app.galleries import open_gallery
    from ..app.references import resolve_target
    from ..runtime.nim import NimOptions
    from ..units import parse_size
    from .output import command, human_size

    with command(output, debug, quiet, verbose) as out:
        if wait and not apply:
            raise UsageError("--wait needs --apply", "add --apply, or drop --wait")
        if dry_run and apply:
            raise UsageError("--dry-run and --apply contradict each other", "drop one of them")
        nim = NimOptions(auth_secret=auth_secret, image_pull_secret=ngc_pull_secret, storage_class=storage_class,
                         ingress_class=ingress_class, host_domain=host_domain, ngc_model=nim_model, ngc_profile=nim_profile,
                         weights_bytes=parse_size(weights_size, "--weights-size") if weights_size else None)
        where = resolve_target(model_name, model_store, tag, digest, revision=not nim_model) if model_name else None
        if where is None and not nim_model:
            raise UsageError("no model given", "give --modelName MODEL:TAG (and --modelStore), or --nim-model for NGC")
        ref = where.ref if where else None
        request = DeployRequest(
            routing_name=routing_name, model=where.model if where else None, ref=ref, engine=engine.value,
            model_type=model_type.value if model_type else None, gpus=gpus, gpu_model=gpu_model.value if gpu_model else None,
            vgpu=vgpu, replicas=replicas, min_replicas=min_replicas, max_replicas=max_replicas, namespace=namespace,
            pull_secret=pull_secret, image=image, fetch_image=fetch_image, node_selector=_node_selector(node_selector), nim=nim,
            vgpu_profile=vgpu_profile, require_validated=require_validated, rollout=rollout.value if rollout else None,
            storage_class=storage_class, volume_bytes=parse_size(volume_size, "--volume-size") if volume_size else None,
            autoscale=autoscale.value if autoscale else None, prometheus_url=prometheus_url, network_policy=network_policy,
            gateway_namespace=gateway_namespace, gateway_api=gateway_api, manifests_dir=manifests_dir,
            # --apply and --dry-run read what is deployed (and preflight); printing manifests never touches the cluster.
            read_cluster=apply or dry_run, require_cluster=apply,
        )
        gallery = None
        if not nim_model:
            assert where is not None
            gallery = open_gallery(settings.context(), where.store, ca_file=ca_file, plain_http=plain_http)
            out.note(f"using gallery {gallery.description}")
        plan = plan_deployment(request, gallery, settings.kubectl())
        for note in plan.notes:
            out.note(note)
        summary = [("routing name", plan.routing_name), ("object name", plan.name), ("engine", f"{plan.engine} ({plan.engine_reason})"),
                   ("source", plan.source), ("placement", plan.placement.summary())]
        if plan.info is not None:
            summary.insert(3, ("model type", f"{plan.info.model_type} ({plan.info.type_reason})"))
            summary.insert(4, ("weights", f"{plan.info.weight_format}, {human_size(plan.info.weight_bytes)} ({plan.info.size_reason})"))
        if plan.validation:
            summary.append(("validation", plan.validation))
        if plan.previous_digest:
            summary.append(("previous", f"{plan.previous_digest} (the rollback target)"))
        if plan.rollout:
            summary.append(("rollout", plan.rollout))
        if plan.storage:
            summary.append(("model storage", plan.storage))
        if plan.placement.max_model_len:
            summary.append(("max model len", f"{plan.placement.max_model_len} (the native context does not fit the KV cache)"))
        if dry_run:
            data = plan.to_json()
            data.pop("manifests")

            def render_reasoning() -> None:
                out.fields(summary)
                out.line("placement reasoning:")
                for reason in plan.placement.reasons:
                    out.line(f"  - {reason}")
                for warning in plan.placement.warnings:
                    out.line(f"  ! {warning}")
                out.line("objects: " + ", ".join(f"{o['kind']}/{o['name']}" for o in data["objects"]))
                if plan.preflight:
                    out.line("preflight:")
                    for line in plan.preflight:
                        out.line(f"  - {line}")
                if plan.cleanup_command:
                    out.line(f"after the swap: {plan.cleanup_command}")

            out.emit(data, render_reasoning)
            return
        for key, value in summary:
            out.note(f"{key}: {value}")
        if plan.cleanup_command:
            out.note(f"once the NIMService serves from the new cache, delete the old ones: {plan.cleanup_command}")
        if plan.replace_command and not apply:
            out.note(f"before applying, delete the other engine's serving objects: {plan.replace_command}")
        written: Path | None = None
        if manifests_dir is not None:
            manifests_dir.mkdir(parents=True, exist_ok=True)
            written = manifests_dir / f"{plan.name}.yaml"
            written.write_text(plan.yaml)
            out.note(f"wrote {len(plan.manifests)} objects to {written}")
        if apply:
            apply_plan(plan, settings.kubectl(), wait=wait, timeout_s=timeout)
            out.note(f"applied {len(plan.manifests)} objects" + (" and the endpoint is ready" if plan.ready else ""))
        data = plan.to_json()
        data["manifests_file"] = str(written) if written else None
        if out.json:
            out.emit(data, lambda: None)
        elif written is None and not apply:
            out.text(plan.yaml)
        elif apply:
            out.fields([("applied", ", ".join(f"{o['kind']}/{o['name']}" for o in data["objects"])),
                        ("ready", "yes" if plan.ready else "not waited for (add --wait)")])


@app.command("list", epilog=examples(
    "pais endpoints list -A",
    "pais endpoints list --gateway http://gateway.example.com/v1 -o json",
))
def list_(
    namespace: NamespaceOpt = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="Every namespace.")] = False,
    gateway: Annotated[Optional[str], typer.Option("--gateway", metavar="URL", help="OpenAI-compatible base URL (e.g. http://gw/v1); lists GET URL/models. API key: $PAIS_GATEWAY_API_KEY.")] = None,
    cluster: Annotated[Optional[bool], typer.Option("--cluster/--no-cluster", help="Also list the cluster (default: only when no --gateway).")] = None,
    check_tags: Annotated[bool, typer.Option("--check-tags/--no-check-tags", help="Ask each endpoint's gallery where its tag points now (STALE).")] = True,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Endpoints pais deployed (routing name, engine, model and digest, replicas, status) and/or a gateway's routing names."""
    from ..app.deploy import gallery_tag_resolver, list_endpoints
    from .output import command

    with command(output, debug, quiet, verbose) as out:
        rows = list_endpoints(namespace=namespace, all_namespaces=all_namespaces,
                              cluster=cluster if cluster is not None else gateway is None, gateway=gateway,
                              gateway_api_key=settings.gateway_api_key(), api_key_source=settings.GATEWAY_API_KEY,
                              kubectl_executable=settings.kubectl(),
                              resolve_tag=gallery_tag_resolver(settings.context()) if check_tags else None)
        out.emit([r.to_json() for r in rows], lambda: out.table(
            ["ROUTING NAME", "ENGINE", "MODEL", "DIGEST", "TAG", "STALE", "READY", "STATUS", "WHERE"],
            [[r.routing_name, r.engine, r.model or "-", out.digest(r.digest) if r.digest else "-", r.tag or "-",
              "-" if r.stale is None else ("yes: now " + (r.tag_digest or "")[:19] if r.stale else "no"),
              f"{r.ready}/{r.desired}" if r.source == "cluster" else "-", r.status,
              f"{r.namespace or '-'}/{r.kind}" if r.source == "cluster" else "gateway"] for r in rows],
        ))


@app.command(epilog=examples(
    "pais endpoints delete --routingName baai/bge-small   # prints the command",
    "pais endpoints delete -r baai/bge-small -n models --apply",
))
def delete(
    routing_name: RoutingNameOpt,
    namespace: NamespaceOpt = None,
    apply: Annotated[bool, typer.Option("--apply", help="Run the deletion with kubectl (default: print the command).")] = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    output: OutputOpt = OutputFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Remove what deploy created for a routing name, or print the kubectl command that does."""
    from ..app.deploy import delete_endpoint
    from .output import command

    with command(output, debug, quiet, verbose) as out:
        plan = delete_endpoint(routing_name, namespace, apply, kubectl_executable=settings.kubectl())
        if apply:
            out.note(f"deleted the endpoint {plan.routing_name}")
        def render() -> None:
            if apply:
                out.fields([("deleted", plan.routing_name), ("objects", ", ".join(plan.objects))])
            else:
                out.text(plan.command + "\n")

        out.emit(plan.to_json(), render)
