#!/usr/bin/env python3
"""Interop: Python's authlib, an independent OAuth 2.0 client, performs a token exchange
(RFC 8693 §2.1) against a Gatehouse server it finds through RFC 8414 metadata.

  authlib_token_exchange.py --issuer URL --client-id ID --client-secret S
                            --subject-token T --audience A [--actor-token T]

The metadata is checked with authlib's model and must list the token-exchange grant; the
request is authlib's `fetch_token` with client_secret_basic and the §2.1 parameters; the
answer must carry §2.2.1 `issued_token_type` and no refresh token.

Prints one JSON object on stdout (the answer's fields, the new token's claims unverified) with
"ok"; exits 1 with "step" and "error" when a step failed.
"""
import argparse
import base64
import json
import os
import sys

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

import requests  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata  # noqa: E402

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
AT = "urn:ietf:params:oauth:token-type:access_token"


def claims(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def main():
    p = argparse.ArgumentParser()
    for name in ["--issuer", "--client-id", "--client-secret", "--subject-token", "--audience"]:
        p.add_argument(name, required=True)
    p.add_argument("--actor-token")
    a = p.parse_args()
    out = {"ok": False}
    step = "metadata"
    try:
        meta = requests.get(a.issuer + "/.well-known/oauth-authorization-server", timeout=10).json()
        AuthorizationServerMetadata(meta).validate()
        if GRANT not in meta["grant_types_supported"]:
            raise ValueError("token exchange is not in grant_types_supported")
        step = "exchange"
        session = OAuth2Session(a.client_id, a.client_secret, token_endpoint_auth_method="client_secret_basic")
        params = {"subject_token": a.subject_token, "subject_token_type": AT, "audience": a.audience}
        if a.actor_token:
            params.update(actor_token=a.actor_token, actor_token_type=AT)
        token = session.fetch_token(meta["token_endpoint"], grant_type=GRANT, **params)
        out.update(
            issued_token_type=token.get("issued_token_type"),
            token_type=token.get("token_type"),
            scope=token.get("scope"),
            refresh_token=token.get("refresh_token"),
            claims=claims(token["access_token"]),
            ok=True,
        )
    except Exception as e:  # noqa: BLE001 - reported to the test
        out.update(step=step, error=f"{type(e).__name__}: {e}")
    print(json.dumps(out))
    sys.exit(0 if out["ok"] else 1)


if __name__ == "__main__":
    main()
