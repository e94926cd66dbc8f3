"""TLS for the DICOM gateway and the HL7 listener and sender, in one place.

The profile is DICOM PS3.15 Annex B.9, "BCP 195 RFC 8996 TLS Profile" (the
one DCMTK's ``+tls`` uses by default): TLS 1.2 or 1.3 only (1.3 preferred:
OpenSSL negotiates the highest both sides have), and for TLS 1.2 only the
ECDHE key exchanges with AES-GCM or ChaCha20-Poly1305 (TLS 1.3's own suites
are all AEAD). Python's ssl module (OpenSSL) does the work; this module only
builds the contexts and reads certificates' expiry dates (``cryptography``)."""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

# BCP 195 (RFC 9325) recommended TLS 1.2 suites, as PS3.15 B.9 lists them.
TLS12_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)
EXPIRY_WARNING_DAYS = 30


class TLSConfigError(ValueError):
    """A certificate, key or CA file that cannot be used, said in one sentence."""


def _harden(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    return context


def server_context(
    *, cert_file: str, key_file: str, ca_file: str = "", require_client_cert: bool = False
) -> ssl.SSLContext:
    """A server context with this host's certificate and key. With ``ca_file``
    a client certificate is checked against it (required, or optional: checked
    when the client sends one); ``require_client_cert`` needs a ``ca_file``."""
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    try:
        context.load_cert_chain(cert_file, key_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(f"certificate {cert_file!r} with key {key_file!r} cannot be used: {exc}") from exc
    if require_client_cert and not ca_file:
        raise TLSConfigError("client certificates are required, but no CA file to check them against is set")
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TLSConfigError(f"CA file {ca_file!r} cannot be used: {exc}") from exc
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return context


def client_context(
    *, ca_file: str = "", cert_file: str = "", key_file: str = "", verify: bool = True
) -> ssl.SSLContext:
    """A client context: the server's certificate checked against ``ca_file``
    (else the system's store) and its host name; our own certificate sent when
    given. ``verify=False`` only for a destination without a certificate a CA
    could vouch for (encrypted, but open to a man in the middle)."""
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    try:
        if verify:
            if ca_file:
                context.load_verify_locations(cafile=ca_file)
            else:
                context.load_default_certs()
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if cert_file:
            context.load_cert_chain(cert_file, key_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(f"TLS client files cannot be used: {exc}") from exc
    return context


@dataclass(frozen=True)
class CertificateInfo:
    path: str
    subject: str
    not_after: dt.datetime

    def days_left(self, now: dt.datetime | None = None) -> float:
        now = now or dt.datetime.now(dt.UTC)
        return (self.not_after - now).total_seconds() / 86400

    def problem(self, now: dt.datetime | None = None) -> str:
        """'' while the certificate has more than EXPIRY_WARNING_DAYS left."""
        days = self.days_left(now)
        if days < 0:
            return f"the certificate {self.path} ({self.subject}) expired on {self.not_after:%d/%m/%Y %H:%M} UTC"
        if days < EXPIRY_WARNING_DAYS:
            return (
                f"the certificate {self.path} ({self.subject}) expires on {self.not_after:%d/%m/%Y %H:%M} UTC, "
                f"in {int(days)} days"
            )
        return ""


def certificate_info(path: str) -> CertificateInfo:
    """The first certificate of a PEM file: its subject and when it expires."""
    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise TLSConfigError(f"{path!r} is not a readable PEM certificate: {exc}") from exc
    return CertificateInfo(path=path, subject=cert.subject.rfc4514_string(), not_after=cert.not_valid_after_utc)


def service_server_context(
    *,
    service: str,
    port: int,
    cert_file: str,
    key_file: str,
    ca_file: str,
    require_client_cert: bool,
    logger: logging.Logger,
) -> ssl.SSLContext:
    """A process's TLS port context from its settings, with the certificate's
    subject, expiry and client-certificate mode in the log (a warning when it
    expires within EXPIRY_WARNING_DAYS). Raises TLSConfigError."""
    context = server_context(
        cert_file=cert_file, key_file=key_file, ca_file=ca_file, require_client_cert=require_client_cert
    )
    certificate = certificate_info(cert_file)
    problem = certificate.problem()
    if problem:
        logger.warning("%s TLS: %s; renew it (docs/security.md)", service, problem)
    mode = "required" if require_client_cert else "checked if sent" if ca_file else "not asked"
    logger.info(
        "%s TLS port=%d certificate=%s expires=%s client_certificates=%s",
        service,
        port,
        certificate.subject,
        certificate.not_after.isoformat(),
        mode,
    )
    return context
