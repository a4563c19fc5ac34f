"""Certificates and keys for the local control plane, made with the openssl CLI.

Keys are ECDSA P-256 (fast to generate on a busy machine). One throwaway CA
signs the API server's serving certificate and the client certificates; a
separate key pair signs ServiceAccount tokens, so TokenRequest issues real
bound tokens.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

VALID_DAYS = "30"
SERVING_SANS = (
    "IP:127.0.0.1",
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class ClientCert:
    """A client certificate and its key; the API server maps CN to user, O to groups."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    serving: ClientCert
    admin: ClientCert
    controller_manager: ClientCert
    sa_public: Path
    sa_private: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _new_key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    path.chmod(0o600)


def _signed_cert(directory: Path, ca: tuple[Path, Path], name: str, subject: str, extensions: str) -> ClientCert:
    ca_cert, ca_key = ca
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.crt"
    ext_file = directory / f"{name}.ext"
    ext_file.write_text(extensions)
    _new_key(key)
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", VALID_DAYS, "-sha256", "-extfile", str(ext_file), "-out", str(cert),
    )  # fmt: skip
    csr.unlink()
    ext_file.unlink()
    return ClientCert(cert=cert, key=key)


def _client_extensions() -> str:
    return _extensions("clientAuth")


def _extensions(usage: str) -> str:
    return f"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage={usage}\n"


def _serving_extensions(extra_sans: tuple[str, ...] = ()) -> str:
    return _extensions("serverAuth") + f"subjectAltName={','.join((*SERVING_SANS, *extra_sans))}\n"


def sign_client_cert(pki: Pki, name: str, subject: str) -> ClientCert:
    """A client certificate from the cluster CA (next to the others), e.g. for a node's components."""
    return _signed_cert(pki.ca_cert.parent, (pki.ca_cert, pki.ca_key), name, subject, _client_extensions())


def sign_serving_cert(pki: Pki, name: str, subject: str, sans: tuple[str, ...]) -> ClientCert:
    """A serving certificate from the cluster CA for ``sans`` only (e.g. a kubelet's)."""
    extensions = _extensions("serverAuth") + f"subjectAltName={','.join(sans)}\n"
    return _signed_cert(pki.ca_cert.parent, (pki.ca_cert, pki.ca_key), name, subject, extensions)


def create_pki(directory: Path, extra_sans: tuple[str, ...] = ()) -> Pki:
    """Generate every certificate and key the control plane needs into ``directory``.

    ``extra_sans`` (``IP:...``) go into the API server's serving certificate: the
    ``kubernetes`` Service IP and the address pods reach it on, when a node runs.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = directory / "ca.crt", directory / "ca.key"
    _new_key(ca_key)
    _openssl(
        "req", "-x509", "-new", "-key", str(ca_key), "-subj", "/CN=switchboard-local-ca", "-days", VALID_DAYS,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-out", str(ca_cert),
    )  # fmt: skip
    ca = (ca_cert, ca_key)
    sa_private, sa_public = directory / "sa.key", directory / "sa.pub"
    _new_key(sa_private)
    _openssl("pkey", "-in", str(sa_private), "-pubout", "-out", str(sa_public))
    return Pki(
        ca_cert=ca_cert,
        ca_key=ca_key,
        serving=_signed_cert(directory, ca, "apiserver", "/CN=kube-apiserver", _serving_extensions(extra_sans)),
        admin=_signed_cert(directory, ca, "admin", "/O=system:masters/CN=switchboard-admin", _client_extensions()),
        controller_manager=_signed_cert(
            directory,
            ca,
            "controller-manager",
            "/O=system:masters/CN=system:kube-controller-manager",
            _client_extensions(),
        ),
        sa_public=sa_public,
        sa_private=sa_private,
    )
