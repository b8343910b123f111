"""Trino's security, generated at set-up: a TLS certificate (password authentication requires
HTTPS), a bcrypt password file for the three roles, and file-based access control.

Roles: `analyst` reads only the `analytics` views; `pipeline` reads and writes every table; `admin`
owns every schema and manages views (definer views need its GRANT_SELECT on the tables below them).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from pathlib import Path

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kappa.runtime.secrets import TRINO_ROLES, Secrets

SHARED_SECRET_ENV = "KAPPA_TRINO_SHARED_SECRET"
ALL_TABLE_PRIVILEGES = ["SELECT", "INSERT", "DELETE", "UPDATE", "OWNERSHIP", "GRANT_SELECT"]


def write_certificate(directory: Path, host: str, name: str = "trino") -> tuple[Path, Path]:
    """(server PEM with key and certificate, CA certificate for clients); kept if they exist."""
    server, ca = directory / f"{name}-server.pem", directory / f"{name}-ca.pem"
    if server.exists() and ca.exists():
        return server, ca
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kappa-{name}")])
    now = dt.datetime.now(dt.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        alt_names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    server.write_bytes(key_pem + cert_pem)
    server.chmod(0o600)
    ca.write_bytes(cert_pem)
    return server, ca


def password_file(secrets: Secrets) -> str:
    """user:bcrypt lines; Trino wants the $2y$ prefix and a cost of at least 8."""
    lines = []
    for user in TRINO_ROLES:
        hashed = bcrypt.hashpw(secrets.trino_password(user).encode(), bcrypt.gensalt(rounds=10)).decode()
        lines.append(f"{user}:$2y${hashed[4:]}")
    return "\n".join(lines) + "\n"


def access_rules(analytics_schema: str) -> dict:
    return {
        "catalogs": [
            {"user": "admin|pipeline", "catalog": ".*", "allow": "all"},
            {"user": "analyst", "catalog": "iceberg|system", "allow": "read-only"},
        ],
        "schemas": [
            {"user": "admin", "schema": ".*", "owner": True},
            {"user": "pipeline", "schema": ".*", "owner": False},
            {"user": "analyst", "schema": analytics_schema, "owner": False},
        ],
        "tables": [
            {"user": "admin|pipeline", "privileges": ALL_TABLE_PRIVILEGES},
            {"user": "analyst", "catalog": "iceberg", "schema": analytics_schema, "privileges": ["SELECT"]},
            {"user": "analyst", "catalog": "system", "schema": "runtime|metadata|information_schema",
             "privileges": ["SELECT"]},
        ],
        "system_information": [{"user": "admin", "allow": ["read", "write"]}],
        # Everyone runs queries and sees (and kills) their own; only the admin sees everyone's SQL text
        # (system.runtime.queries, the Web UI).
        "queries": [
            {"user": "admin", "allow": ["execute", "kill", "view"]},
            {"allow": ["execute"]},
        ],
    }


def write_security(etc: Path, tls_dir: Path, secrets: Secrets, host: str, analytics_schema: str) -> dict[str, str]:
    """Write the password file and rules; returns the config.properties entries that enable them."""
    server_pem, _ = write_certificate(tls_dir, host)
    passwords = etc / "password.db"
    passwords.write_text(password_file(secrets))
    passwords.chmod(0o600)
    (etc / "password-authenticator.properties").write_text(
        f"password-authenticator.name=file\nfile.password-file={passwords}\n")
    rules = etc / "access-control-rules.json"
    rules.write_text(json.dumps(access_rules(analytics_schema), indent=1))
    (etc / "access-control.properties").write_text(
        f"access-control.name=file\nsecurity.config-file={rules}\n")
    return {
        "http-server.https.enabled": "true",
        "http-server.https.keystore.path": str(server_pem),
        "http-server.authentication.type": "PASSWORD",
        "internal-communication.shared-secret": f"${{ENV:{SHARED_SECRET_ENV}}}",  # Trino's environment has it
    }
