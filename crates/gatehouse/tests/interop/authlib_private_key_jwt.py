#!/usr/bin/env python3
"""Interop: Python's authlib authenticates a client with `private_key_jwt` (RFC 7523 §2.2,
OpenID Connect Core 1.0 §9) and gets a client-credentials token (RFC 6749 §4.4).

  authlib_private_key_jwt.py --issuer URL --client-id ID --key-file PEM [--alg ES256]

Steps: discovery (the method and the algorithm must be advertised, OpenID Connect Discovery
§3); a token request signed by authlib's `PrivateKeyJWT` with a 60-second assertion; a replay
of that exact assertion (must be refused, RFC 7523 §3 point 7); introspection of the token with
a new assertion (RFC 7662 §2.1); and authlib's default assertion lifetime of one hour, which
Gatehouse refuses (assertions may expire at most 5 minutes ahead).

Prints one JSON object on stdout; exits 0 only when every step passed.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

import requests  # noqa: E402
from authlib.integrations.base_client import OAuthError  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.oauth2.rfc7523 import PrivateKeyJWT  # noqa: E402
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign  # noqa: E402
from joserfc.jwk import ECKey, OKPKey, RSAKey  # noqa: E402

TIMEOUT = 20
KEY_TYPES = {"ES256": ECKey, "EdDSA": OKPKey, "RS256": RSAKey}


class Failed(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failed(message)


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """authlib's PrivateKeyJWT with a 60-second assertion instead of its default hour."""

    def __init__(self, token_endpoint, alg, log):
        super().__init__(token_endpoint, alg=alg)
        self.log = log

    def sign(self, auth, token_endpoint):
        assertion = private_key_jwt_sign(
            auth.client_secret, client_id=auth.client_id, token_endpoint=token_endpoint, alg=self.alg, expires_in=60
        )
        self.log.append(assertion)
        return assertion


def run(args, out):
    out["step"] = "discovery"
    meta = requests.get(f"{args.issuer}/.well-known/openid-configuration", timeout=TIMEOUT).json()
    check("private_key_jwt" in meta["token_endpoint_auth_methods_supported"], "private_key_jwt not advertised")
    check(args.alg in meta["token_endpoint_auth_signing_alg_values_supported"], f"{args.alg} not advertised")
    with open(args.key_file, "rb") as f:
        key = KEY_TYPES[args.alg].import_key(f.read())

    out["step"] = "client_credentials"
    sent = []
    session = OAuth2Session(
        args.client_id, key, token_endpoint_auth_method=ShortLivedPrivateKeyJWT(meta["token_endpoint"], args.alg, sent)
    )
    token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    check(token.get("token_type") == "Bearer" and token.get("access_token"), f"unexpected token response {token}")
    out["token_type"] = token["token_type"]
    out["scope"] = token.get("scope")

    out["step"] = "replay"
    r = requests.post(
        meta["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": sent[-1],
        },
        timeout=TIMEOUT,
    )
    check(r.status_code == 401 and r.json().get("error") == "invalid_client", f"replay answered {r.status_code}")
    out["replay_refused"] = True

    out["step"] = "introspection"
    # authlib signs with the endpoint it calls as `aud`; the issuer is the audience valid for
    # every endpoint (RFC 7523 §3 point 3).
    introspector = OAuth2Session(
        args.client_id, key, token_endpoint_auth_method=ShortLivedPrivateKeyJWT(args.issuer, args.alg, sent)
    )
    r = introspector.introspect_token(meta["introspection_endpoint"], token=token["access_token"])
    check(r.status_code == 200, f"introspection answered {r.status_code}: {r.text}")
    out["introspection"] = {k: r.json().get(k) for k in ("active", "client_id")}

    out["step"] = "default lifetime"
    default = OAuth2Session(
        args.client_id, key, token_endpoint_auth_method=PrivateKeyJWT(meta["token_endpoint"], alg=args.alg)
    )
    try:
        default.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        out["default_lifetime_refused"] = False
    except OAuthError as e:
        out["default_lifetime_refused"] = e.error == "invalid_client"
    out.pop("step")
    out["ok"] = True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--issuer", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--key-file", required=True)
    p.add_argument("--alg", default="ES256", choices=sorted(KEY_TYPES))
    args = p.parse_args()
    import authlib

    out = {"library": "authlib", "version": authlib.__version__, "ok": False}
    try:
        run(args, out)
    except Exception as e:  # noqa: BLE001 (every failure is reported in the summary)
        out["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out))
    sys.exit(0 if out["ok"] else 1)


if __name__ == "__main__":
    main()
