"""The in-cluster model fetch: a POSIX shell script run by the ORAS CLI image.

pais writes the script from the revision's manifest, after checking every path as untrusted
input (modelpack.model_files), so the cluster never interprets annotations itself. Each file is
fetched by its blob digest from the pinned revision (`oras blob fetch REPO@sha256:...`),
verified again with sha256sum, and renamed into place; a file already in place is skipped, so
an interrupted fill resumes. With a shared blob directory (the NIM path's RWX volume), blobs
are kept once by digest and hard-linked into each revision's directory, so a new revision
fetches only the files that changed.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from ..gallery.modelpack import ModelFile

FETCH_IMAGE = "ghcr.io/oras-project/oras:v1.3.0"  # the ORAS CLI; --fetch-image replaces it
AUTH_DIR = "/etc/pais/registry-auth"
CA_DIR = "/etc/pais/registry-ca"
CA_KEY = "ca.crt"
COMPLETE_MARKER = ".pais-complete"


@dataclass(frozen=True)
class FetchSource:
    registry: str  # host[:port]
    repository: str  # namespace/model inside the registry
    digest: str  # the pinned revision
    plain_http: bool = False
    pull_secret: str | None = None
    has_ca: bool = False

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"

    def oras_options(self) -> list[str]:
        options: list[str] = []
        if self.plain_http:
            options.append("--plain-http")
        if self.has_ca:
            options += ["--ca-file", f"{CA_DIR}/{CA_KEY}"]
        if self.pull_secret:
            options += ["--registry-config", f"{AUTH_DIR}/config.json"]
        return options


def fetch_script(source: FetchSource, files: list[ModelFile], dest: str, blobs: str | None = None,
                 keep: list[str] | None = None) -> str:
    """Shell script that leaves exactly the revision's files under `dest`, then a marker.

    With `blobs` (a shared volume) and `keep` (the revision directory names to keep beside
    `dest`'s, e.g. the one serving now, for rollback), every other revision directory next to
    `dest` is removed afterwards, and so are blobs no revision links any more."""
    q = shlex.quote
    lines = [
        "set -eu",
        f"repo={q(source.registry + '/' + source.repository)}",
        f"dest={q(dest)}",
        f"opts={q(' '.join(source.oras_options()))}",
        f"echo \"fetching {source.reference} into $dest\"",
    ]
    body = ["mkdir -p \"$dest\""]
    if blobs is not None:
        lines.append(f"blobs={q(blobs)}")
        body += [
            "mkdir -p \"$blobs\"",
            "get() {  # digest-hex size path: the blob once in $blobs, linked into the revision",
            "  out=\"$dest/$3\"; blob=\"$blobs/$1\"",
            "  if [ -f \"$out\" ]; then return 0; fi",
            "  if [ ! -f \"$blob\" ] || [ \"$(wc -c < \"$blob\")\" -ne \"$2\" ]; then",
            "    # shellcheck disable=SC2086",
            "    oras blob fetch $opts --output \"$blob.partial\" \"$repo@sha256:$1\"",
            "    echo \"$1  $blob.partial\" | sha256sum -c >/dev/null",
            "    mv \"$blob.partial\" \"$blob\"",
            "  else echo \"have $3\"; fi",
            "  mkdir -p \"$(dirname \"$out\")\"",
            "  ln \"$blob\" \"$out\" 2>/dev/null || cp \"$blob\" \"$out\"",
            "}",
        ]
    else:
        body += [
            "get() {  # digest-hex size path",
            "  out=\"$dest/$3\"",
            "  if [ -f \"$out\" ] && [ \"$(wc -c < \"$out\")\" -eq \"$2\" ]; then echo \"have $3\"; return 0; fi",
            "  mkdir -p \"$(dirname \"$out\")\"",
            "  # shellcheck disable=SC2086",
            "  oras blob fetch $opts --output \"$out.partial\" \"$repo@sha256:$1\"",
            "  echo \"$1  $out.partial\" | sha256sum -c >/dev/null",
            "  mv \"$out.partial\" \"$out\"",
            "}",
        ]
    for f in files:
        body.append(f"get {f.digest.split(':', 1)[1]} {f.size} {q(f.path)}")
    body += [f"echo {q(source.digest)} > \"$dest/{COMPLETE_MARKER}\"", "echo 'revision in place'"]
    # A complete revision is not fetched again (an interrupted one resumes), but pruning still runs.
    lines += [f"if [ -f \"$dest/{COMPLETE_MARKER}\" ]; then echo 'revision already in place'; else", *body, "fi"]
    if blobs is not None and keep is not None:
        names = " ".join(q(k) for k in sorted({*keep, dest.rstrip("/").rsplit("/", 1)[-1]}))
        lines += [
            "# Prune: revisions no longer referenced (this one and the kept ones stay), then blobs no revision links.",
            "revisions=\"$(dirname \"$dest\")\"",
            "for d in \"$revisions\"/*; do",
            "  [ -d \"$d\" ] || continue",
            "  name=\"$(basename \"$d\")\"; keep=no",
            f"  for k in {names}; do if [ \"$name\" = \"$k\" ]; then keep=yes; fi; done",
            "  if [ \"$keep\" = no ]; then echo \"pruning revision $name\"; rm -rf \"$d\"; fi",
            "done",
            "find \"$blobs\" -type f -links 1 ! -name '*.partial' -exec rm -f {} +",
        ]
    return "\n".join(lines) + "\n"


def fetch_volumes(source: FetchSource, ca_configmap: str | None) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(volumes, volumeMounts) for registry credentials and CA."""
    volumes: list[dict[str, object]] = []
    mounts: list[dict[str, object]] = []
    if source.pull_secret:
        volumes.append({"name": "registry-auth", "secret": {
            "secretName": source.pull_secret, "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}})
        mounts.append({"name": "registry-auth", "mountPath": AUTH_DIR, "readOnly": True})
    if source.has_ca and ca_configmap:
        volumes.append({"name": "registry-ca", "configMap": {"name": ca_configmap}})
        mounts.append({"name": "registry-ca", "mountPath": CA_DIR, "readOnly": True})
    return volumes, mounts
