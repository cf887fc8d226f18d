"""Kubernetes manifests checked offline, the way an API server would check them.

No kube-apiserver can run here, so:
- built-in kinds (Deployment, Service, PVC, Job, ConfigMap, HPA) are validated with
  `kubernetes-validate` in strict mode (unknown fields are errors) against the published
  OpenAPI schemas of the Kubernetes version named below;
- custom resources are validated against their real CRDs (tests/specs/): NIMService and
  NIMCache of NIM Operator v3.1.2, KEDA v2.20.2's ScaledObject, Gateway API v1.6.1's HTTPRoute
  (standard channel): the structural schema (with defaults applied first and unknown fields
  refused, as `kubectl apply` with server-side field validation does), then every CEL rule
  (`x-kubernetes-validations`) evaluated with cel-python, for a create (transition rules with
  `oldSelf` skipped) and for a re-apply of the same object (`oldSelf` = the object);
  `validate_update(old, new)` evaluates the transition rules with the real old object, as an
  update does (NIMCache's immutable `modelPuller`).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.33"
SPECS = Path(__file__).resolve().parent.parent / "specs"
NIM_CRDS = {
    "NIMService": SPECS / "nim-operator-v3.1.2-apps.nvidia.com_nimservices.yaml",
    "NIMCache": SPECS / "nim-operator-v3.1.2-apps.nvidia.com_nimcaches.yaml",
    "ScaledObject": SPECS / "keda-v2.20.2-keda.sh_scaledobjects.yaml",
    "HTTPRoute": SPECS / "gateway-api-v1.6.1-gateway.networking.k8s.io_httproutes.yaml",
}
_MISSING = object()
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


class ManifestInvalid(AssertionError):
    pass


def _strict(schema: Any) -> Any:
    """The CRD's structural schema as JSON Schema that refuses unknown fields."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if k != "x-kubernetes-validations"}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def _apply_defaults(value: Any, schema: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                _apply_defaults(value[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                if key not in (schema.get("properties") or {}):
                    _apply_defaults(value[key], extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _apply_defaults(item, schema["items"])


_env = celpy.Environment()
_programs: dict[str, Any] = {}


def _cel(rule: str) -> Any:
    if rule not in _programs:
        _programs[rule] = _env.program(_env.compile(rule))
    return _programs[rule]


def _check_cel(value: Any, schema: dict[str, Any], path: str, old: Any, failures: list[str]) -> None:
    """`old`: the value at the same path before the update; _MISSING on create (transition
    rules are evaluated only where an old value exists)."""
    for rule in schema.get("x-kubernetes-validations") or []:
        expression = rule["rule"]
        if "oldSelf" in expression and old is _MISSING:
            continue  # transition rules are not evaluated on create
        activation = {"self": celpy.json_to_cel(value)}
        if old is not _MISSING:
            activation["oldSelf"] = celpy.json_to_cel(old)
        result = _cel(expression).evaluate(activation)
        if result is not True and not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            failures.append(f"{path}: {rule.get('message', expression)} (CEL: {expression}) -> {result!r}")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        before = old if isinstance(old, dict) else {}
        for key, sub in props.items():
            if key in value:
                _check_cel(value[key], sub, f"{path}.{key}", before.get(key, _MISSING), failures)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                if key not in props:
                    _check_cel(value[key], extra, f"{path}[{key}]", before.get(key, _MISSING), failures)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            # List items are correlated only by position when the list is the same length.
            same = isinstance(old, list) and len(old) == len(value)
            _check_cel(item, schema["items"], f"{path}[{i}]", old[i] if same else _MISSING, failures)


@dataclass
class CRD:
    kind: str
    group: str
    versions: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, path: Path) -> CRD:
        doc = yaml.safe_load(path.read_text())
        versions = {v["name"]: v["schema"]["openAPIV3Schema"] for v in doc["spec"]["versions"] if v.get("served")}
        return cls(doc["spec"]["names"]["kind"], doc["spec"]["group"], versions)

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
        """The object as the API server would store it (defaults applied); raises when invalid.
        With `old` (as stored), the transition rules see it as oldSelf, as an update does."""
        group, _, version = obj.get("apiVersion", "").partition("/")
        if group != self.group or version not in self.versions or obj.get("kind") != self.kind:
            raise ManifestInvalid(f"{obj.get('apiVersion')} {obj.get('kind')} is not {self.group} {self.kind}")
        schema = self.versions[version]
        stored = copy.deepcopy(obj)
        _apply_defaults(stored, schema)
        body = {k: v for k, v in stored.items() if k not in ("metadata",)}
        top = {**schema, "properties": {k: v for k, v in schema["properties"].items() if k != "metadata"}}
        try:
            jsonschema.validate(body, _strict(top))
        except jsonschema.ValidationError as exc:
            raise ManifestInvalid(f"{self.kind} {obj['metadata'].get('name')}: {exc.message} at {list(exc.absolute_path)}") from None
        failures: list[str] = []
        if old is not None:
            _check_cel(stored, schema, self.kind, old, failures)
        else:
            for before in (_MISSING, stored):
                _check_cel(stored, schema, self.kind, before, failures)
        if failures:
            raise ManifestInvalid(f"{self.kind} {obj['metadata'].get('name')} fails CEL rules: " + "; ".join(failures))
        return stored


_crds: dict[str, CRD] = {}


def crd(kind: str) -> CRD:
    if kind not in _crds:
        _crds[kind] = CRD.load(NIM_CRDS[kind])
    return _crds[kind]


def check_metadata(obj: dict[str, Any]) -> None:
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    # A Service (and the operator's Services for NIMService) needs a DNS-1035 label.
    pattern = _DNS1035_LABEL if obj["kind"] in ("Service", "NIMService") else _DNS1123_LABEL
    if not pattern.match(name) or len(name) > 63:
        raise ManifestInvalid(f"{obj['kind']} name {name!r} is not a DNS label of at most 63 characters")
    for key, value in (meta.get("labels") or {}).items():
        if len(value) > 63 or not re.match(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", value):
            raise ManifestInvalid(f"label {key}={value!r} is not a valid label value")


def validate_update(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The CRD's transition rules for an update of `old` (as stored) to `new`: [] when admitted."""
    if new["kind"] not in NIM_CRDS:
        return []
    definition = crd(new["kind"])
    try:
        definition.validate(new, old=definition.validate(old))
    except ManifestInvalid as exc:
        return [str(exc)]
    return []


def validate_manifest(obj: dict[str, Any]) -> dict[str, Any]:
    """Validate one emitted object; returns it as stored (defaults applied for CRDs)."""
    check_metadata(obj)
    if obj["kind"] in NIM_CRDS:
        return crd(obj["kind"]).validate(obj)
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        raise ManifestInvalid(f"{obj['kind']} {obj['metadata'].get('name')}: {exc.message} at {list(exc.path)}") from None
    return obj


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]
