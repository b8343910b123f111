"""Mutual TLS on Flink's REST API: the JobManager answers only a client that presents the platform's
certificate (`kappa`'s REST calls, `flink run`, the gateway), so the REST port on loopback is closed to
every other local user and to a browser's pages. One self-signed certificate serves as the server's,
the clients' and the trust anchor, as Flink's documentation suggests for a cluster's own endpoints."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from kappa.context import Context
from kappa.services.trino_security import write_certificate


def rest_tls_files(ctx: Context) -> tuple[Path, Path]:
    """(PEM with the key and certificate, the CA certificate), for the platform's Python clients."""
    directory = ctx.settings.flink_tls_dir
    return directory / "flink-server.pem", directory / "flink-ca.pem"


def write_rest_tls(ctx: Context) -> None:
    """The certificate (kept once made) and the Java key and trust stores Flink reads."""
    directory = ctx.settings.flink_tls_dir
    pem, _ = write_certificate(directory, ctx.settings.host, name="flink")
    keystore, truststore = directory / "keystore.p12", directory / "truststore.p12"
    if keystore.exists() and truststore.exists():
        return
    data = pem.read_bytes()
    key = serialization.load_pem_private_key(data, password=None)
    cert = x509.load_pem_x509_certificate(data)
    secret = serialization.BestAvailableEncryption(ctx.secrets.flink_keystore_password.encode())
    keystore.write_bytes(pkcs12.serialize_key_and_certificates(b"flink", key, cert, None, secret))  # type: ignore[arg-type]
    truststore.write_bytes(pkcs12.serialize_java_truststore([pkcs12.PKCS12Certificate(cert, b"flink-ca")], secret))


def rest_tls_config(ctx: Context) -> dict[str, str | int]:
    """The REST endpoint and, with the same stores, the internal connections (RPC between JobManager
    and TaskManagers, the blob server, data exchange), which are always mutually authenticated."""
    directory, password = ctx.settings.flink_tls_dir, ctx.secrets.flink_keystore_password
    stores = {"keystore": str(directory / "keystore.p12"), "keystore-password": password, "key-password": password,
              "truststore": str(directory / "truststore.p12"), "truststore-password": password}
    return {
        "security.ssl.rest.enabled": "true",
        "security.ssl.rest.authentication-enabled": "true",
        **{f"security.ssl.rest.{key}": value for key, value in stores.items()},
        "security.ssl.internal.enabled": "true",
        **{f"security.ssl.internal.{key}": value for key, value in stores.items()},
        # Flink's default suite list is one RSA suite; the certificate's key is an EC key
        "security.ssl.protocol": "TLSv1.2",
        "security.ssl.algorithms": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    }
