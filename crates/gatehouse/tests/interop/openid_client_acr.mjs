#!/usr/bin/env node
// Interop: Node's openid-client (v6) redeems an authorization code that the e2e test obtained
// by driving the browser part itself (a step-up with a TOTP code computed in the test), and
// checks the ID token with the library's rules: state, RFC 9207 iss, nonce, iss, aud, exp,
// iat, and auth_time against max_age (OpenID Connect Core §3.1.3.7, rules 2-11); the
// signature is verified with jose against the server's JWKS found through discovery (rule 6).
// Whether `acr` and `amr` are appropriate (rule 12: "the Client SHOULD check that the asserted
// Claim Value is appropriate") is for the calling test to judge from the printed claims.
//
//   node openid_client_acr.mjs --issuer=URL --client-id=ID [--client-secret=S] --redirect-uri=URI
//        --callback=URL --verifier=V --state=S --nonce=N [--max-age=SECONDS] [--clock-skew=SECONDS]
//
// Prints one JSON object: the verified claims, the token response's access and refresh tokens,
// and discovery's acr_values_supported; exit code 0 only when every check passed.

import { parseArgs } from 'node:util'
import * as client from 'openid-client'
import * as jose from 'jose'

const { values: o } = parseArgs({
  options: {
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string', default: '' },
    'redirect-uri': { type: 'string' },
    callback: { type: 'string' },
    verifier: { type: 'string' },
    state: { type: 'string' },
    nonce: { type: 'string' },
    'max-age': { type: 'string' },
    'clock-skew': { type: 'string', default: '0' },
  },
})

const out = { ok: false }
try {
  out.step = 'discovery'
  const auth = o['client-secret'] ? client.ClientSecretBasic(o['client-secret']) : client.None()
  const config = await client.discovery(new URL(o.issuer), o['client-id'], undefined, auth, {
    execute: [client.allowInsecureRequests],
  })
  // The test server's clock runs ahead of this one by a known offset.
  const skew = Number(o['clock-skew'])
  config[client.clockSkew] = skew
  const meta = config.serverMetadata()
  out.acr_values_supported = meta.acr_values_supported ?? null

  out.step = 'token exchange'
  const checks = { pkceCodeVerifier: o.verifier, expectedState: o.state, expectedNonce: o.nonce, idTokenExpected: true }
  if (o['max-age'] !== undefined) checks.maxAge = Number(o['max-age'])
  const tokens = await client.authorizationCodeGrant(config, new URL(o.callback), checks)

  out.step = 'ID token signature'
  const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri))
  const { payload, protectedHeader } = await jose.jwtVerify(tokens.id_token, jwks, {
    issuer: meta.issuer,
    audience: o['client-id'],
    algorithms: ['RS256'],
    currentDate: new Date(Date.now() + skew * 1000),
  })
  out.alg = protectedHeader.alg
  out.claims = payload
  out.library_claims = tokens.claims()
  out.access_token = tokens.access_token
  out.refresh_token = tokens.refresh_token ?? null
  out.step = null
  out.ok = true
} catch (e) {
  out.error = `${e.name}: ${e.message}`
  if (e.code) out.code = e.code
  if (e.error) out.oauth_error = { error: e.error, error_description: e.error_description }
}
console.log(JSON.stringify(out, null, 2))
if (!out.ok) {
  console.error(`openid-client ID token check failed at ${out.step}: ${out.error}`)
  process.exit(1)
}
