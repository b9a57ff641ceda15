"""A per-lab certificate authority and one certificate per mail service.

Made once and kept in the lab's state folder, so re-rendering yields the same
files (a second `up` changes nothing) and a student imports the CA into
Thunderbird only once (`ca.pem`).
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
VALIDITY = datetime.timedelta(days=825)


@dataclass(frozen=True)
class TlsPair:
    cert: str  # PEM
    key: str  # PEM


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600, never world-readable even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _certificate(subject: str, issuer: x509.Name, public_key, signing_key, *, ca: bool, hostnames: list[str]) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if hostnames:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hostnames]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _load_or_make_ca(tls_dir: Path, lab_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = tls_dir / CA_CERT, tls_dir / CA_KEY
    if cert_path.is_file() and key_path.is_file():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = f"labctl {lab_name} lab CA"
    cert = _certificate(name, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), key.public_key(), key, ca=True, hostnames=[])
    tls_dir.mkdir(parents=True, exist_ok=True)
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _still_valid(cert_path: Path, ca_cert: x509.Certificate, hostname: str) -> bool:
    """The kept certificate names this hostname and was signed by this lab CA."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        cert.verify_directly_issued_by(ca_cert)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return hostname in names


def server_pair(tls_dir: Path, lab_name: str, service: str, hostname: str) -> TlsPair:
    """The service's certificate for `hostname`, signed by the lab CA; made once,
    made again when the hostname or the CA changed."""
    ca_cert, ca_key = _load_or_make_ca(tls_dir, lab_name)
    cert_path, key_path = tls_dir / f"{service}.pem", tls_dir / f"{service}.key"
    if not (cert_path.is_file() and key_path.is_file() and _still_valid(cert_path, ca_cert, hostname)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(hostname, ca_cert.subject, key.public_key(), ca_key, ca=False, hostnames=[hostname])
        _write_private(key_path, _key_pem(key))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TlsPair(cert_path.read_text(), key_path.read_text())
