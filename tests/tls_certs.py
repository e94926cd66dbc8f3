"""A site CA with server and client certificates, made with the same openssl
commands docs/security.md gives a hospital, and a second CA whose
certificates the first must refuse. For the DICOM and HL7 TLS tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> Path:
    """docs/security.md, step 1: the site CA (its key never leaves the IT office)."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
        "-subj", f"/O=Hospital/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
        cwd=folder,
    )  # fmt: skip
    return folder / f"{name}.pem"


def make_certificate(folder: Path, ca: str, name: str, *, days: int = 825, san: str = "") -> tuple[Path, Path]:
    """docs/security.md, step 2: a key and a certificate signed by the CA."""
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-subj", f"/O=Hospital/CN={name}",
        "-keyout", f"{name}.key", "-out", f"{name}.csr",
        cwd=folder,
    )  # fmt: skip
    extensions = folder / f"{name}.ext"
    extensions.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n", encoding="ascii")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
        "-days", str(days), "-sha256", "-extfile", extensions.name, "-out", f"{name}.pem",
        cwd=folder,
    )  # fmt: skip
    return folder / f"{name}.pem", folder / f"{name}.key"


@dataclass(frozen=True)
class SiteCertificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    other_cert: Path  # signed by other_ca: a device the site CA never vouched for
    other_key: Path


def site_certificates(folder: Path) -> SiteCertificates:
    ca = make_ca(folder, "site-ca")
    server_cert, server_key = make_certificate(folder, "site-ca", "ris-server", san="DNS:localhost,IP:127.0.0.1")
    client_cert, client_key = make_certificate(folder, "site-ca", "ct-room3")
    other_ca = make_ca(folder, "other-ca")
    other_cert, other_key = make_certificate(folder, "other-ca", "intruder")
    return SiteCertificates(ca, server_cert, server_key, client_cert, client_key, other_ca, other_cert, other_key)
