#!/usr/bin/env python3
"""Interop: Python's authlib, an independent OAuth 2.0 / OpenID Connect client, runs the whole
authorization-code flow against a Gatehouse server that it finds through discovery.

  authlib_flow.py --issuer URL --client-id ID [--client-secret S] --email E --password P
                  --redirect-uri URI

Without --client-secret the client is public (token endpoint auth method `none`); PKCE (S256) is
used either way. Steps: discovery (OpenID Connect Discovery 1.0 §4, RFC 8414 §3) checked with
authlib's metadata models; the authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3); the
sign-in and consent pages driven over plain HTTP with cookies, as a browser without JavaScript
would; the authorization response (state, RFC 9207 `iss`); the code exchange (§4.1.3); the ID
token validated as authlib validates it (OpenID Connect Core §3.1.3.7: signature against the
JWKS, iss, aud, azp, exp, nonce, at_hash); UserInfo (Core §5.3); refresh with rotation (RFC 6749
§6); introspection (RFC 7662, confidential clients); revocation (RFC 7009) and what follows it.

Prints one JSON object on stdout. Exits 0 only when every step passed; otherwise the object has
"ok": false, the failing "step" and the library's "error" text, and the exit code is 1.
"""
import argparse
import html.parser
import json
import os
import sys
import time
import urllib.parse

# The test server is on loopback over plain HTTP; authlib refuses http issuers without this.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

import requests  # noqa: E402
from authlib.common.security import generate_token  # noqa: E402
from authlib.integrations.base_client import OAuthError  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata  # noqa: E402
from authlib.oidc.core import CodeIDToken, UserInfo  # noqa: E402
from authlib.oidc.discovery import OpenIDProviderMetadata  # noqa: E402
from joserfc import jwt  # noqa: E402  (authlib's own JOSE backend since authlib.jose was deprecated)
from joserfc.jwk import KeySet  # noqa: E402
from joserfc.jws import JWSRegistry  # noqa: E402

SCOPE = "openid profile email offline_access"
TIMEOUT = 20


class Failed(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failed(message)


class Forms(html.parser.HTMLParser):
    """Every <form> of a page: its action and the fields a browser would submit (hidden inputs,
    text inputs with values, and the submit buttons by name)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"), "fields": [], "buttons": []})
        elif self.forms and tag == "input" and a.get("name"):
            self.forms[-1]["fields"].append((a["name"], a.get("value") or "", a.get("type", "text")))
        elif self.forms and tag == "button" and a.get("name"):
            self.forms[-1]["buttons"].append((a["name"], a.get("value") or ""))


def forms_of(page):
    p = Forms()
    p.feed(page)
    return p.forms


def browse_to_callback(start_url, issuer, redirect_uri, email, password, seen):
    """Plays the browser: follows our own redirects, fills the sign-in form, allows on the consent
    page, and stops at the redirect to the client's redirect URI (which need not exist)."""
    browser = requests.Session()
    resp = browser.get(start_url, allow_redirects=False, timeout=TIMEOUT)
    for _ in range(12):
        if resp.status_code in (301, 302, 303, 307, 308):
            location = urllib.parse.urljoin(resp.url, resp.headers["Location"])
            seen.append(f"{resp.status_code} -> {urllib.parse.urlsplit(location).path}")
            if location.startswith(redirect_uri):
                check(resp.status_code in (302, 303), f"redirect to the client with status {resp.status_code}")
                return location
            check(location.startswith(issuer + "/"), f"redirected off the server to {location}")
            resp = browser.get(location, allow_redirects=False, timeout=TIMEOUT)
            continue
        check(resp.status_code == 200, f"unexpected status {resp.status_code} at {resp.url}: {resp.text[:300]}")
        forms = [f for f in forms_of(resp.text) if f["method"].lower() == "post"]
        login = next((f for f in forms if f["action"] == "/login"), None)
        consent = next((f for f in forms if f["action"] == "/oauth2/consent"), None)
        if login:
            seen.append("login page")
            data = [(n, v) for (n, v, t) in login["fields"] if t == "hidden"]
            check(any(n == "next" for n, _ in data), "the sign-in form does not carry the authorization request (next)")
            data += [("email", email), ("password", password)]
            resp = browser.post(urllib.parse.urljoin(resp.url, login["action"]), data=data, allow_redirects=False, timeout=TIMEOUT)
        elif consent:
            seen.append("consent page")
            check(("decision", "allow") in consent["buttons"], "the consent form has no allow button")
            data = [(n, v) for (n, v, t) in consent["fields"] if t == "hidden"] + [("decision", "allow")]
            resp = browser.post(urllib.parse.urljoin(resp.url, consent["action"]), data=data, allow_redirects=False, timeout=TIMEOUT)
        else:
            raise Failed(f"a page with neither a sign-in nor a consent form at {resp.url}: {resp.text[:300]}")
    raise Failed("too many steps before reaching the redirect URI")


def validate_id_token(id_token, metadata, jwks, client_id, nonce, access_token):
    """What authlib's OpenIDMixin.parse_id_token does, with iss and aud made essential."""
    key_set = KeySet.import_key_set(jwks)
    algs = metadata["id_token_signing_alg_values_supported"]
    token = jwt.decode(id_token, key=key_set, registry=JWSRegistry(algorithms=algs))
    claims = CodeIDToken(
        token.claims,
        token.header,
        {"iss": {"essential": True, "value": metadata["issuer"]}, "aud": {"essential": True, "value": client_id}},
        {"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    claims.validate(leeway=5)
    # authlib checks at_hash and nonce only when present; the code flow here must carry both.
    check("nonce" in claims, "the ID token has no nonce although the request had one (Core §3.1.2.1)")
    check("at_hash" in claims, "the ID token has no at_hash")
    return token.header, dict(claims)


def run(args, out):
    public = not args.client_secret
    auth_method = "none" if public else "client_secret_basic"

    out["step"] = "discovery"
    r = requests.get(f"{args.issuer}/.well-known/openid-configuration", timeout=TIMEOUT)
    r.raise_for_status()
    meta = r.json()
    OpenIDProviderMetadata(meta).validate()
    # OpenID Connect Discovery 1.0 §4.3: the issuer MUST be identical to the one used to discover.
    check(meta["issuer"] == args.issuer, f"issuer {meta['issuer']!r} != {args.issuer!r}")
    r = requests.get(f"{args.issuer}/.well-known/oauth-authorization-server", timeout=TIMEOUT)
    r.raise_for_status()
    AuthorizationServerMetadata(r.json()).validate()
    check("S256" in meta.get("code_challenge_methods_supported", []), "S256 not advertised")
    check(auth_method in meta["token_endpoint_auth_methods_supported"], f"{auth_method} not advertised")

    out["step"] = "authorization request"
    session = OAuth2Session(
        client_id=args.client_id,
        client_secret=args.client_secret or None,
        token_endpoint_auth_method=auth_method,
        revocation_endpoint_auth_method=auth_method,
        scope=SCOPE,
        redirect_uri=args.redirect_uri,
        code_challenge_method="S256",
    )
    code_verifier = generate_token(64)
    nonce = generate_token(24)
    url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce)

    out["step"] = "sign-in and consent"
    seen = out["pages"] = []
    callback = browse_to_callback(url, args.issuer, args.redirect_uri, args.email, args.password, seen)
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
    check("error" not in params, f"authorization error: {params}")
    check(params.get("state") == state, "state was not echoed exactly")
    # RFC 9207 §2.4: the client compares iss with the issuer it discovered. (authlib does not
    # check this parameter itself.)
    check(params.get("iss") == meta["issuer"], f"iss {params.get('iss')!r} is not the issuer")

    out["step"] = "token exchange"
    token = session.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=code_verifier, state=state)
    check(token.get("token_type", "").lower() == "bearer", f"token_type {token.get('token_type')!r}")
    for k in ("access_token", "id_token", "refresh_token", "expires_in"):
        check(k in token, f"the token response has no {k}")
    out["token_response_keys"] = sorted(token.keys())
    out["scope"] = token.get("scope")

    out["step"] = "ID token"
    jwks = requests.get(meta["jwks_uri"], timeout=TIMEOUT).json()
    header, claims = validate_id_token(token["id_token"], meta, jwks, args.client_id, nonce, token["access_token"])
    out["id_token"] = {"alg": header["alg"], "claims": sorted(claims.keys()), "sub": claims["sub"]}

    out["step"] = "userinfo"
    r = session.get(meta["userinfo_endpoint"], timeout=TIMEOUT)
    r.raise_for_status()
    info = UserInfo(r.json())
    # Core §5.3.2: the sub in the UserInfo response MUST match the ID token's.
    check(info["sub"] == claims["sub"], "userinfo sub differs from the ID token's")
    check(info.get("email") == args.email, f"userinfo email {info.get('email')!r}")
    out["userinfo"] = dict(info)

    out["step"] = "refresh"
    first_refresh = token["refresh_token"]
    refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=first_refresh)
    check(refreshed.get("access_token") and refreshed["access_token"] != token["access_token"], "no new access token")
    check(refreshed.get("refresh_token") and refreshed["refresh_token"] != first_refresh, "the refresh token was not rotated")
    out["refreshed"] = True

    access, refresh = refreshed["access_token"], refreshed["refresh_token"]
    if not public:
        out["step"] = "introspection"
        r = session.introspect_token(meta["introspection_endpoint"], token=access, token_type_hint="access_token")
        r.raise_for_status()
        body = r.json()
        check(body.get("active") is True, f"live access token introspected as {body}")
        check(body.get("client_id") == args.client_id and body.get("sub") == claims["sub"], f"introspection {body}")
        r = session.introspect_token(meta["introspection_endpoint"], token=refresh, token_type_hint="refresh_token")
        r.raise_for_status()
        check(r.json().get("active") is True, f"live refresh token introspected as {r.json()}")
        out["introspection_before"] = body

    out["step"] = "revocation"
    r = session.revoke_token(meta["revocation_endpoint"], token=refresh, token_type_hint="refresh_token")
    check(r.status_code == 200, f"revocation answered {r.status_code}: {r.text}")
    out["revoked"] = True

    out["step"] = "after revocation"
    if not public:
        after = {}
        for kind, t in (("access_token", access), ("refresh_token", refresh)):
            r = session.introspect_token(meta["introspection_endpoint"], token=t, token_type_hint=kind)
            r.raise_for_status()
            after[kind] = r.json()
            check(after[kind] == {"active": False}, f"revoked {kind} introspected as {after[kind]}")
        out["introspection_after"] = after
    r = requests.get(meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {access}"}, timeout=TIMEOUT)
    check(r.status_code == 401, f"userinfo with a revoked grant answered {r.status_code}")
    try:
        session.refresh_token(meta["token_endpoint"], refresh_token=refresh)
    except OAuthError as e:
        check(e.error == "invalid_grant", f"refresh after revocation: {e!r}")
    else:
        raise Failed("a revoked refresh token still refreshed")
    out["step"] = None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--issuer", default=os.environ.get("GATEHOUSE_ISSUER"))
    p.add_argument("--client-id", default=os.environ.get("GATEHOUSE_CLIENT_ID"))
    p.add_argument("--client-secret", default=os.environ.get("GATEHOUSE_CLIENT_SECRET", ""))
    p.add_argument("--email", default=os.environ.get("GATEHOUSE_EMAIL"))
    p.add_argument("--password", default=os.environ.get("GATEHOUSE_PASSWORD"))
    p.add_argument("--redirect-uri", default=os.environ.get("GATEHOUSE_REDIRECT_URI"))
    args = p.parse_args()
    missing = [k for k in ("issuer", "client_id", "email", "password", "redirect_uri") if not getattr(args, k)]
    if missing:
        p.error(f"missing: {', '.join(missing)}")
    args.issuer = args.issuer.rstrip("/")
    import authlib

    out = {"library": "authlib", "version": authlib.__version__, "public": not args.client_secret, "ok": False}
    started = time.monotonic()
    try:
        run(args, out)
        out["ok"] = True
    except Exception as e:  # every failure is reported with the step it happened in
        out["error"] = f"{type(e).__name__}: {e}"
    out["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(out, indent=2, default=str))
    if not out["ok"]:
        print(f"authlib flow failed at {out['step']}: {out['error']}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
