#!/usr/bin/env node
// Interop: Node's openid-client (v6, a certified OpenID Connect relying party) runs the whole
// authorization-code flow against a Gatehouse server that it finds through discovery.
//
//   node openid_client_flow.mjs --issuer URL --client-id ID [--client-secret S] --email E
//                               --password P --redirect-uri URI
//
// (or GATEHOUSE_ISSUER, GATEHOUSE_CLIENT_ID, ... in the environment). Without --client-secret
// the client is public (auth method `none`); PKCE S256 is used either way. Steps: discovery
// (OpenID Connect Discovery 1.0 §4, issuer checked by the library); the authorization request
// (RFC 6749 §4.1.1, RFC 7636 §4.3) with state and nonce; the sign-in and consent pages driven
// with fetch and a hand-kept cookie jar, as a browser without JavaScript would; the code
// exchange with the library's checks (state, RFC 9207 iss, ID token signature, iss, aud, exp,
// iat, nonce — OpenID Connect Core §3.1.3.7) plus at_hash (Core §3.1.3.8) checked here;
// UserInfo with the subject check (Core §5.3.2); refresh with rotation (RFC 6749 §6);
// introspection (RFC 7662, confidential clients); revocation (RFC 7009) and what follows.
//
// Prints one JSON object on stdout; exit code 0 only when every step passed, else 1 with
// "ok": false, the failing "step" and the library's "error" text.

import { createHash } from 'node:crypto'
import { parseArgs } from 'node:util'
import { createRequire } from 'node:module'
import * as client from 'openid-client'
import { browseToCallback, check } from './form_browser.mjs'

const SCOPE = 'openid profile email offline_access'


function options() {
  const { values } = parseArgs({
    options: {
      issuer: { type: 'string', default: process.env.GATEHOUSE_ISSUER },
      'client-id': { type: 'string', default: process.env.GATEHOUSE_CLIENT_ID },
      'client-secret': { type: 'string', default: process.env.GATEHOUSE_CLIENT_SECRET ?? '' },
      email: { type: 'string', default: process.env.GATEHOUSE_EMAIL },
      password: { type: 'string', default: process.env.GATEHOUSE_PASSWORD },
      'redirect-uri': { type: 'string', default: process.env.GATEHOUSE_REDIRECT_URI },
    },
  })
  const missing = ['issuer', 'client-id', 'email', 'password', 'redirect-uri'].filter((k) => !values[k])
  if (missing.length) {
    console.error(`missing: ${missing.join(', ')}`)
    process.exit(2)
  }
  return {
    issuer: values.issuer.replace(/\/+$/, ''),
    clientId: values['client-id'],
    clientSecret: values['client-secret'],
    email: values.email,
    password: values.password,
    redirectUri: values['redirect-uri'],
  }
}

// --- the flow ---------------------------------------------------------------------------------

const atHash = (token) => createHash('sha256').update(token).digest().subarray(0, 16).toString('base64url')

async function run(o, out) {
  const isPublic = !o.clientSecret
  out.step = 'discovery'
  const auth = isPublic ? client.None() : client.ClientSecretBasic(o.clientSecret)
  // Plain http is allowed only because the test server is on loopback.
  const config = await client.discovery(new URL(o.issuer), o.clientId, undefined, auth, {
    execute: [client.allowInsecureRequests],
  })
  const meta = config.serverMetadata()
  check(meta.issuer === o.issuer, `issuer ${meta.issuer}`)
  check(meta.supportsPKCE('S256'), 'S256 not advertised')

  out.step = 'authorization request'
  const codeVerifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: o.redirectUri,
    scope: SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  })

  out.step = 'sign-in and consent'
  out.pages = []
  const callback = await browseToCallback(authUrl, o, out.pages)

  out.step = 'token exchange'
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  })
  check(tokens.token_type?.toLowerCase() === 'bearer', `token_type ${tokens.token_type}`)
  check(tokens.refresh_token, 'no refresh token although offline_access was granted')
  const claims = tokens.claims()
  out.token_response_keys = Object.keys(tokens).sort()
  out.scope = tokens.scope

  out.step = 'ID token'
  check(claims.at_hash === atHash(tokens.access_token), `at_hash ${claims.at_hash} does not match the access token`)
  check(claims.azp === undefined || claims.azp === o.clientId, `azp ${claims.azp}`)
  out.id_token = { claims: Object.keys(claims).sort(), sub: claims.sub }

  out.step = 'userinfo'
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
  check(info.email === o.email, `userinfo email ${info.email}`)
  out.userinfo = info

  out.step = 'refresh'
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
  check(refreshed.access_token && refreshed.access_token !== tokens.access_token, 'no new access token')
  check(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'the refresh token was not rotated')
  out.refreshed = true

  const access = refreshed.access_token
  const refresh = refreshed.refresh_token
  if (!isPublic) {
    out.step = 'introspection'
    const body = await client.tokenIntrospection(config, access, { token_type_hint: 'access_token' })
    check(body.active === true && body.client_id === o.clientId && body.sub === claims.sub, `introspection ${JSON.stringify(body)}`)
    const r = await client.tokenIntrospection(config, refresh, { token_type_hint: 'refresh_token' })
    check(r.active === true, `live refresh token introspected as ${JSON.stringify(r)}`)
    out.introspection_before = body
  }

  out.step = 'revocation'
  await client.tokenRevocation(config, refresh, { token_type_hint: 'refresh_token' })
  out.revoked = true

  out.step = 'after revocation'
  if (!isPublic) {
    out.introspection_after = {}
    for (const [hint, t] of [['access_token', access], ['refresh_token', refresh]]) {
      const body = await client.tokenIntrospection(config, t, { token_type_hint: hint })
      check(JSON.stringify(body) === '{"active":false}', `revoked ${hint} introspected as ${JSON.stringify(body)}`)
      out.introspection_after[hint] = body
    }
  }
  const rejected = async (promise) => promise.then(() => null, (e) => e)
  const uiErr = await rejected(client.fetchUserInfo(config, access, claims.sub))
  check(uiErr && uiErr.status === 401, `userinfo with a revoked grant: ${uiErr ? `${uiErr.name}: ${uiErr.message}` : 'succeeded'}`)
  const rtErr = await rejected(client.refreshTokenGrant(config, refresh))
  check(rtErr && rtErr.error === 'invalid_grant', `refresh after revocation: ${rtErr ? `${rtErr.name}: ${rtErr.message}` : 'succeeded'}`)

  // Error redirects (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6) must pass the library's
  // state and RFC 9207 iss checks before it reports the error code.
  out.step = 'error responses'
  out.error_responses = {}
  for (const [expected, extra, decision] of [
    ['login_required', { prompt: 'none' }, 'allow'],
    ['access_denied', { prompt: 'consent' }, 'deny'],
  ]) {
    const verifier = client.randomPKCECodeVerifier()
    const expectedState = client.randomState()
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: o.redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: expectedState,
      ...extra,
    })
    const cb = await browseToCallback(url, o, [], decision)
    const e = await rejected(client.authorizationCodeGrant(config, new URL(cb), { pkceCodeVerifier: verifier, expectedState }))
    check(e instanceof client.AuthorizationResponseError && e.error === expected, `${expected}: ${e ? `${e.name}: ${e.message}` : 'succeeded'}`)
    out.error_responses[expected] = e.name
  }
  out.step = null
}

const o = options()
const version = createRequire(import.meta.url)('openid-client/package.json').version
const out = { library: 'openid-client', version, public: !o.clientSecret, ok: false }
const started = performance.now()
try {
  await run(o, out)
  out.ok = true
} catch (e) {
  out.error = `${e.name}: ${e.message}`
  if (e.code) out.code = e.code
  if (e.error) out.oauth_error = { error: e.error, error_description: e.error_description }
  if (e.cause !== undefined) out.cause = e.cause instanceof Error ? `${e.cause.name}: ${e.cause.message}` : e.cause
}
out.seconds = Math.round(performance.now() - started) / 1000
console.log(JSON.stringify(out, null, 2))
if (!out.ok) {
  console.error(`openid-client flow failed at ${out.step}: ${out.error}`)
  process.exit(1)
}
