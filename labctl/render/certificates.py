"""Making and checking the lab CA and its server certificates (cryptography).

Only imported when the files in a lab's tls folder are not the very ones an
earlier run made or checked (labctl.render.tls keeps that record): importing
cryptography is 40 ms of every `labctl up`.

Strict verifiers (Python 3.13's default context, `openssl verify -x509_strict`)
accept only RFC 5280 profiles: key identifiers on both sides, key usages,
critical basic constraints. Students are told to trust the CA, so it is limited
by NameConstraints to the lab's own names and subnet: it can vouch for nothing
else. Files made by an older labctl, or for another hostname, subnet or set of
lab names, do not match the profile below and are made again.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from labctl.render.tls import CA_CERT, CA_KEY, CaScope, TlsPair

VALIDITY = datetime.timedelta(days=825)
# A kept certificate this close to its end is made again.
RENEW_BEFORE = datetime.timedelta(days=30)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600, never world-readable even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _usage(**granted: bool) -> x509.KeyUsage:
    flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                 key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
    return x509.KeyUsage(**{**flags, **granted})


def _ca_extensions(public_key, scope: CaScope) -> list[x509.Extension]:
    permitted = [x509.DNSName(domain) for domain in scope.domains] + [x509.IPAddress(scope.subnet)]
    return [
        x509.Extension(x509.BasicConstraints.oid, True, x509.BasicConstraints(ca=True, path_length=0)),
        x509.Extension(x509.KeyUsage.oid, True, _usage(key_cert_sign=True, crl_sign=True)),
        x509.Extension(x509.SubjectKeyIdentifier.oid, False, x509.SubjectKeyIdentifier.from_public_key(public_key)),
        x509.Extension(x509.NameConstraints.oid, True, x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None)),
    ]


def _server_extensions(public_key, ca_cert: x509.Certificate, hostname: str, ip: ipaddress.IPv4Address) -> list[x509.Extension]:
    ca_key_id = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return [
        x509.Extension(x509.BasicConstraints.oid, True, x509.BasicConstraints(ca=False, path_length=None)),
        x509.Extension(x509.KeyUsage.oid, True, _usage(digital_signature=True, key_encipherment=True)),
        x509.Extension(x509.ExtendedKeyUsage.oid, False, x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])),
        x509.Extension(x509.SubjectAlternativeName.oid, False, x509.SubjectAlternativeName([x509.DNSName(hostname), x509.IPAddress(ip)])),
        x509.Extension(x509.SubjectKeyIdentifier.oid, False, x509.SubjectKeyIdentifier.from_public_key(public_key)),
        x509.Extension(x509.AuthorityKeyIdentifier.oid, False, x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id)),
    ]


def _sign(subject: x509.Name, issuer: x509.Name, public_key, signing_key, extensions: list[x509.Extension]) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )
    for extension in extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(signing_key, hashes.SHA256())


def _has_exactly(cert: x509.Certificate, wanted: list[x509.Extension]) -> bool:
    """The certificate carries these extensions and no others, and is not about to expire."""
    def key(ext: x509.Extension) -> str:
        return ext.oid.dotted_string

    try:
        present = sorted(cert.extensions, key=key)
    except ValueError:  # an extension this library cannot parse: not ours
        return False
    soon = datetime.datetime.now(datetime.timezone.utc) + RENEW_BEFORE
    return present == sorted(wanted, key=key) and cert.not_valid_after_utc > soon


def _load_or_make_ca(tls_dir: Path, lab_name: str, scope: CaScope) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = tls_dir / CA_CERT, tls_dir / CA_KEY
    if cert_path.is_file() and key_path.is_file():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if _has_exactly(cert, _ca_extensions(cert.public_key(), scope)):
            return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"labctl {lab_name} lab CA")
    cert = _sign(name, name, key.public_key(), key, _ca_extensions(key.public_key(), scope))
    tls_dir.mkdir(parents=True, exist_ok=True)
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _still_valid(cert_path: Path, ca_cert: x509.Certificate, hostname: str, ip: ipaddress.IPv4Address) -> bool:
    """The kept certificate was signed by this lab CA for this hostname and address, with today's profile."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return _has_exactly(cert, _server_extensions(cert.public_key(), ca_cert, hostname, ip))


def server_pair(tls_dir: Path, lab_name: str, scope: CaScope, service: str, hostname: str, ip: ipaddress.IPv4Address) -> TlsPair:
    """The service's certificate for `hostname` and `ip`, signed by the lab CA;
    made once, made again when anything it names (or the CA) changed."""
    ca_cert, ca_key = _load_or_make_ca(tls_dir, lab_name, scope)
    cert_path, key_path = tls_dir / f"{service}.pem", tls_dir / f"{service}.key"
    if not (cert_path.is_file() and key_path.is_file() and _still_valid(cert_path, ca_cert, hostname, ip)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _sign(_name(hostname), ca_cert.subject, key.public_key(), ca_key, _server_extensions(key.public_key(), ca_cert, hostname, ip))
        _write_private(key_path, _key_pem(key))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TlsPair(cert_path.read_text(), key_path.read_text())


def renewal_due(pems: list[str]) -> datetime.datetime:
    """When the first of these certificates comes within RENEW_BEFORE of its end (and is made again)."""
    return min(x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc for pem in pems) - RENEW_BEFORE
