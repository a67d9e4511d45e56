#!/usr/bin/env python3
"""Interop: Python's authlib sends RFC 8707 resource indicators to Gatehouse.

  authlib_resource.py --issuer URL --client-id ID --client-secret S --email E --password P
                      --redirect-uri URI --resource A --resource B

The code flow (PKCE) asks for both resources in the authorization request (RFC 8707 §2.1,
`resource` repeated), redeems the code for resource A (§2.2), refreshes for resource B, and gets a
client-credentials token for A. Each access token is verified with joserfc against the JWKS and
must carry exactly its resource as `aud`. An unregistered resource must be refused with
`invalid_target`. Prints one JSON object; exits 1 with "ok": false and the failing step otherwise.
"""
import argparse
import json
import os
import sys
import urllib.parse

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

import requests  # noqa: E402
from authlib.common.security import generate_token  # noqa: E402
from authlib.integrations.base_client import OAuthError  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from joserfc import jwt  # noqa: E402
from joserfc.jwk import KeySet  # noqa: E402
from joserfc.jws import JWSRegistry  # noqa: E402

from authlib_flow import TIMEOUT, Failed, browse_to_callback, check  # noqa: E402

SCOPE = "openid offline_access read write"


def audience(access_token, keys):
    token = jwt.decode(access_token, key=keys, registry=JWSRegistry(algorithms=["ES256", "EdDSA", "RS256"]))
    return token.claims.get("aud"), token.claims.get("scope")


def run(args, out):
    out["step"] = "discovery"
    meta = requests.get(f"{args.issuer}/.well-known/oauth-authorization-server", timeout=TIMEOUT).json()
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=TIMEOUT).json())
    a, b = args.resource

    out["step"] = "authorization request with two resources"
    session = OAuth2Session(
        client_id=args.client_id,
        client_secret=args.client_secret,
        scope=SCOPE,
        redirect_uri=args.redirect_uri,
        code_challenge_method="S256",
    )
    verifier = generate_token(64)
    url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    # authlib adds extra parameters once each; RFC 8707 repeats `resource`, so append both.
    url += "&" + urllib.parse.urlencode([("resource", a), ("resource", b)])
    callback = browse_to_callback(url, args.issuer, args.redirect_uri, args.email, args.password, [])

    out["step"] = "code for resource A"
    token = session.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state, resource=a
    )
    out["code_token"] = dict(zip(("aud", "scope"), audience(token["access_token"], keys)))
    check(out["code_token"]["aud"] == a, f"aud {out['code_token']['aud']!r} is not {a!r}")

    out["step"] = "refresh for resource B"
    refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"], resource=b)
    out["refreshed_token"] = dict(zip(("aud", "scope"), audience(refreshed["access_token"], keys)))
    check(out["refreshed_token"]["aud"] == b, f"aud {out['refreshed_token']['aud']!r} is not {b!r}")

    out["step"] = "client credentials for resource A"
    machine = OAuth2Session(client_id=args.machine_id, client_secret=args.machine_secret)
    cc = machine.fetch_token(meta["token_endpoint"], grant_type="client_credentials", resource=a)
    out["client_credentials_token"] = dict(zip(("aud", "scope"), audience(cc["access_token"], keys)))
    check(out["client_credentials_token"]["aud"] == a, f"aud {out['client_credentials_token']!r}")

    out["step"] = "unknown resource"
    try:
        machine.fetch_token(meta["token_endpoint"], grant_type="client_credentials", resource="https://nowhere.example/")
    except OAuthError as e:
        out["unknown_resource_error"] = e.error
        check(e.error == "invalid_target", f"an unknown resource got {e.error!r}")
    else:
        raise Failed("an unknown resource got a token")
    out["step"] = None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("issuer", "client-id", "client-secret", "machine-id", "machine-secret", "email", "password", "redirect-uri"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--resource", action="append", required=True)
    args = p.parse_args()
    args.issuer = args.issuer.rstrip("/")
    out = {"library": "authlib", "ok": False}
    try:
        check(len(args.resource) == 2, "two --resource values are needed")
        run(args, out)
        out["ok"] = True
    except Exception as e:  # every failure is reported with the step it happened in
        out["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out, indent=2, default=str))
    if not out["ok"]:
        print(f"authlib resource flow failed at {out['step']}: {out['error']}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
