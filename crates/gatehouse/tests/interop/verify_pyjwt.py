#!/usr/bin/env python3
"""Interop check: PyJWT, an independent JOSE implementation, verifies a Gatehouse access token
against the server's JWKS. Usage: verify_pyjwt.py JWKS_URL TOKEN ISSUER AUDIENCE
Prints the verified claims as JSON; exits non-zero when verification fails."""
import json
import sys
import urllib.request

import jwt

jwks_url, token, issuer, audience = sys.argv[1:5]
with urllib.request.urlopen(jwks_url) as r:
    jwks = json.load(r)
header = jwt.get_unverified_header(token)
# The key, not the token, decides the algorithm (RFC 8725 §3.1).
key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
public_key = jwt.PyJWK(key)
claims = jwt.decode(
    token,
    key=public_key,
    algorithms=[key["alg"]],
    audience=audience,
    issuer=issuer,
    options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
)
if header.get("typ") != "at+jwt":
    sys.exit(f"typ is {header.get('typ')!r}, not at+jwt (RFC 9068 §2.1)")
print(json.dumps({"alg": header["alg"], "claims": claims}))
