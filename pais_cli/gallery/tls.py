"""Which certificates pais trusts: one context per registry, built once.

The system trust store (OpenSSL's default paths, which honour SSL_CERT_FILE and SSL_CERT_DIR)
is where a platform team adds its corporate CA, as for Docker and curl. Where it holds no
certificate (a slim container without ca-certificates), certifi's bundle stands in, so public
registries still verify. `--ca-file` replaces both. Reading a bundle takes about 20 ms, so each
client builds one context and shares it between its probe, its connections and its blob reads.
"""

from __future__ import annotations

import ssl

from ..errors import UsageError


def trust_context(ca_file: str | None = None) -> ssl.SSLContext:
    if ca_file:
        try:
            return ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"--ca-file {ca_file} is not a readable PEM certificate bundle: {exc}",
                             "give the registry's CA certificate in PEM form (-----BEGIN CERTIFICATE-----)") from exc
    context = ssl.create_default_context()
    if context.cert_store_stats()["x509_ca"] == 0:  # none loaded (a hashed directory alone loads lazily: harmless)
        try:
            import certifi  # httpx's own dependency
        except ImportError:
            return context
        context.load_verify_locations(cafile=certifi.where())
    return context
