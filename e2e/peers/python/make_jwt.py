#!/usr/bin/env python3
"""Makes what the JWT test of the gateway needs, as an identity provider
would: an RSA and an Ed25519 signing key, a JWKS file with their public
halves, and tokens, printed as one JSON object:

    .venv/bin/python e2e/peers/python/make_jwt.py --jwks OUT.json \
        --issuer https://issuer.test --audience kitegate

Tokens: rs256 and eddsa (valid), expired, not_yet (nbf in the future),
wrong_audience, wrong_issuer, other_key (signed by a key not in the
JWKS), hs256 (an HMAC token keyed with the RSA public key: the algorithm
confusion a gateway must refuse), none (unsigned), and claims (valid, with
a tenant and a list of roles besides sub).
"""

import argparse
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jwks", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--audience", required=True)
    a = ap.parse_args(argv)

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
    rsa_jwk.update({"kid": "r1", "alg": "RS256", "use": "sig"})
    ed_jwk = json.loads(OKPAlgorithm.to_jwk(ed_key.public_key()))
    ed_jwk.update({"kid": "e1", "alg": "EdDSA", "use": "sig"})
    with open(a.jwks, "w") as f:
        json.dump({"keys": [rsa_jwk, ed_jwk]}, f)

    now = int(time.time())
    base = {"iss": a.issuer, "aud": a.audience, "sub": "user-7", "iat": now, "exp": now + 600}

    def sign(claims, key=rsa_key, alg="RS256", kid="r1"):
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})

    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "kid": "r1", "typ": "JWT"}).encode())
    payload = jwt.utils.base64url_encode(json.dumps(base).encode())
    import hashlib
    import hmac
    mac = hmac.new(pem, header + b"." + payload, hashlib.sha256).digest()
    hs256 = (header + b"." + payload + b"." + jwt.utils.base64url_encode(mac)).decode()
    none_header = jwt.utils.base64url_encode(json.dumps({"alg": "none", "kid": "r1"}).encode())
    tokens = {
        "rs256": sign(base),
        "eddsa": sign(base, ed_key, "EdDSA", "e1"),
        "expired": sign({**base, "exp": now - 120}),
        "not_yet": sign({**base, "nbf": now + 600}),
        "wrong_audience": sign({**base, "aud": "someone-else"}),
        "wrong_issuer": sign({**base, "iss": "https://other.test"}),
        "other_key": sign(base, other),
        "hs256": hs256,
        "none": (none_header + b"." + payload + b".").decode(),
        "claims": sign({**base, "tenant": "blue", "roles": ["a", "b"]}),
    }
    json.dump(tokens, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
