"""The lab CA and the mail certificates as strict verifiers see them: OpenSSL's
`verify -x509_strict` and Python's ssl with VERIFY_X509_STRICT (3.13's default),
both ways: the lab's names verify, a name outside the lab signed by the same CA
does not (NameConstraints). Kept files are reused, outdated ones remade."""
from __future__ import annotations

import datetime
import json
import ipaddress
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from labctl.render.tls import CA_CERT, CA_KEY, RECORD, lab_certificates
from labctl.spec.loader import load_lab

HOSTNAME = "mail.redes.unlp.edu.ar"


@pytest.fixture
def practica4():
    return load_lab("practica4")


def _openssl_verify(tls_dir: Path, cert: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", str(tls_dir / CA_CERT), *extra, str(cert)],
                          capture_output=True, text=True)


def _strict_client(ca: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # what Python 3.13 sets by default
    return context


def _handshake(cert: Path, key: Path, ca: Path, server_hostname: str) -> None:
    """A TLS handshake on loopback: a server presenting `cert`, a strict client trusting `ca`."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(str(cert), str(key))
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_context.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass  # the client refused us: what the negative tests expect

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=5) as raw:
            with _strict_client(ca).wrap_socket(raw, server_hostname=server_hostname):
                pass
    finally:
        server.join(5)
        listener.close()


def _outsider(tls_dir: Path, tmp_path: Path, hostname: str, ip: str) -> tuple[Path, Path]:
    """A server certificate of the same profile for a name outside the lab, signed by the lab CA."""
    ca = x509.load_pem_x509_certificate((tls_dir / CA_CERT).read_bytes())
    ca_key = serialization.load_pem_private_key((tls_dir / CA_KEY).read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "outsider.pem", tmp_path / "outsider.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def test_openssl_strict_verify_accepts_the_mail_certificate(tmp_path, practica4):
    lab_certificates(tmp_path, practica4)
    result = _openssl_verify(tmp_path, tmp_path / "mail.pem", "-purpose", "sslserver",
                             "-verify_hostname", HOSTNAME)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")
    by_ip = _openssl_verify(tmp_path, tmp_path / "mail.pem", "-verify_ip", "172.28.0.90")
    assert by_ip.returncode == 0, by_ip.stdout + by_ip.stderr


def test_python_strict_context_completes_a_handshake(tmp_path, practica4):
    lab_certificates(tmp_path, practica4)
    _handshake(tmp_path / "mail.pem", tmp_path / "mail.key", tmp_path / CA_CERT, HOSTNAME)


def test_ca_profile_is_what_strict_verifiers_require(tmp_path, practica4):
    lab_certificates(tmp_path, practica4)
    ca = x509.load_pem_x509_certificate((tmp_path / CA_CERT).read_bytes())
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.permitted_subtrees == [x509.DNSName("redes.unlp.edu.ar"),
                                                    x509.IPAddress(ipaddress.ip_network("172.28.0.0/24"))]


@pytest.mark.parametrize("hostname, ip", [("www.example.com", "172.28.0.90"), ("mail.redes.unlp.edu.ar", "192.0.2.1")])
def test_the_ca_cannot_vouch_for_a_name_outside_the_lab(tmp_path, practica4, hostname, ip):
    lab_certificates(tmp_path, practica4)
    cert, key = _outsider(tmp_path, tmp_path, hostname, ip)
    result = _openssl_verify(tmp_path, cert)
    assert result.returncode != 0
    assert "subtree violation" in result.stdout + result.stderr
    with pytest.raises(ssl.SSLCertVerificationError, match="subtree violation"):
        _handshake(cert, key, tmp_path / CA_CERT, hostname)


def test_certificates_are_kept_and_remade_when_what_they_name_changes(tmp_path, practica4):
    first = lab_certificates(tmp_path, practica4)
    assert lab_certificates(tmp_path, practica4) == first  # stable: a second up changes nothing
    assert (tmp_path / "mail.key").stat().st_mode & 0o077 == 0
    assert (tmp_path / CA_KEY).stat().st_mode & 0o077 == 0

    mail = practica4.services["mail"].model_copy(update={"hostname": "correo.redes.unlp.edu.ar"})
    renamed_lab = practica4.model_copy(update={"services": {**practica4.services, "mail": mail}})
    renamed = lab_certificates(tmp_path, renamed_lab)
    assert renamed.ca == first.ca and renamed.servers["mail"] != first.servers["mail"]
    cert = x509.load_pem_x509_certificate(renamed.servers["mail"].cert.encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["correo.redes.unlp.edu.ar"]

    moved = lab_certificates(tmp_path, load_lab("practica4", None, "10.20.30.0/24"))
    assert moved.ca != first.ca  # the CA's NameConstraints name the subnet
    assert _openssl_verify(tmp_path, tmp_path / "mail.pem", "-verify_ip", "10.20.30.90").returncode == 0


def _old_labctl_files(tls_dir: Path) -> None:
    """The CA and mail certificate as labctl made them before: basic constraints and SAN only."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def sign(subject: str, issuer: str, public_key, signing_key, ca: bool) -> bytes:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        return builder.sign(signing_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    pem = serialization.Encoding.PEM
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    (tls_dir / CA_CERT).write_bytes(sign("labctl practica4 lab CA", "labctl practica4 lab CA", ca_key.public_key(), ca_key, True))
    (tls_dir / CA_KEY).write_bytes(ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tls_dir / "mail.pem").write_bytes(sign(HOSTNAME, "labctl practica4 lab CA", key.public_key(), ca_key, False))
    (tls_dir / "mail.key").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def test_files_of_an_older_labctl_are_remade(tmp_path, practica4):
    _old_labctl_files(tmp_path)
    assert _openssl_verify(tmp_path, tmp_path / "mail.pem").returncode != 0  # what the issue saw
    lab_certificates(tmp_path, practica4)
    result = _openssl_verify(tmp_path, tmp_path / "mail.pem", "-verify_hostname", HOSTNAME)
    assert result.returncode == 0, result.stdout + result.stderr


def test_files_checked_before_are_taken_without_cryptography(tmp_path, practica4):
    """A later `up` finds the very files an earlier one checked: it reads them as they are
    (importing cryptography is 40 ms of every up)."""
    first = lab_certificates(tmp_path, practica4)
    script = (
        "import sys; from pathlib import Path\n"
        "from labctl.render.tls import lab_certificates\n"
        "from labctl.spec.loader import load_lab\n"
        f"certs = lab_certificates(Path({str(tmp_path)!r}), load_lab('practica4'))\n"
        "print(certs.servers['mail'].cert == open(sys.argv[1]).read(), any(m.startswith('cryptography') for m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "mail.pem")], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "False"]
    assert lab_certificates(tmp_path, practica4) == first


def test_files_changed_after_the_check_are_checked_again(tmp_path, practica4):
    lab_certificates(tmp_path, practica4)
    _old_labctl_files(tmp_path)  # replaced behind labctl's back: the record no longer matches
    lab_certificates(tmp_path, practica4)
    result = _openssl_verify(tmp_path, tmp_path / "mail.pem", "-verify_hostname", HOSTNAME)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_record_past_its_renewal_date_is_checked_again(tmp_path, practica4):
    first = lab_certificates(tmp_path, practica4)
    record = json.loads((tmp_path / RECORD).read_text())
    record["renew_at"] = "2000-01-01T00:00:00+00:00"
    (tmp_path / RECORD).write_text(json.dumps(record))
    assert lab_certificates(tmp_path, practica4) == first  # still good: kept, and so recorded
    renew_at = datetime.datetime.fromisoformat(json.loads((tmp_path / RECORD).read_text())["renew_at"])
    ends = [x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc for pem in (first.ca, first.servers["mail"].cert)]
    assert renew_at == min(ends) - datetime.timedelta(days=30)
