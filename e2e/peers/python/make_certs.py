#!/usr/bin/env python3
"""Makes the certificates of the TLS tests with the cryptography package,
as an operator's CA would: a CA, two server certificates for 127.0.0.1 and
localhost (`server` and `renewed`, told apart by their common names), a
client certificate the CA signed and one it did not (`stranger`).

    .venv/bin/python e2e/peers/python/make_certs.py OUT_DIR

Writes ca.pem, server.pem/server.key, renewed.pem/renewed.key,
client.pem/client.key and stranger.pem/stranger.key (keys in PKCS#8).
"""

import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def write(out, stem, cert, key):
    with open(os.path.join(out, stem + ".pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        with open(os.path.join(out, stem + ".key"), "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )


def issue(cn, issuer_name, issuer_key, *, ca=False, server=False):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer_name or name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        b = b.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if server:
            b = b.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
    cert = b.sign(issuer_key or key, hashes.SHA256())
    return cert, key


def main(out):
    os.makedirs(out, exist_ok=True)
    ca, ca_key = issue("kitegate test CA", None, None, ca=True)
    write(out, "ca", ca, None)
    for stem in ("server", "renewed"):
        cert, key = issue(f"kitegate {stem}", ca.subject, ca_key, server=True)
        write(out, stem, cert, key)
    cert, key = issue("admin client", ca.subject, ca_key)
    write(out, "client", cert, key)
    other, other_key = issue("another CA", None, None, ca=True)
    cert, key = issue("stranger", other.subject, other_key)
    write(out, "stranger", cert, key)


if __name__ == "__main__":
    main(sys.argv[1])
