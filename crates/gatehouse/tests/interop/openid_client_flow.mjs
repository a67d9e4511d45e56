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

const SCOPE = 'openid profile email offline_access'

class Failed extends Error {}
const check = (cond, message) => {
  if (!cond) throw new Failed(message)
}

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

// --- a minimal browser: cookies, redirects by hand, and the forms of a page -----------------

function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi, (_, e) => {
    const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e.toLowerCase()]
    if (named) return named
    return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10))
  })
}

function attributes(tag) {
  const out = {}
  for (const m of tag.matchAll(/([a-zA-Z_:-]+)\s*=\s*"([^"]*)"/g)) out[m[1].toLowerCase()] = decodeEntities(m[2])
  return out
}

function formsOf(html) {
  return [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)].map(([, open, body]) => {
    const a = attributes(open)
    const inputs = [...body.matchAll(/<input\b[^>]*>/gi)].map(([t]) => attributes(t))
    const buttons = [...body.matchAll(/<button\b[^>]*>/gi)].map(([t]) => attributes(t))
    return { action: a.action ?? '', method: (a.method ?? 'get').toLowerCase(), inputs, buttons }
  })
}

class Browser {
  jar = new Map()

  async request(url, init = {}) {
    const headers = new Headers(init.headers)
    if (this.jar.size) headers.set('cookie', [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '))
    const resp = await fetch(url, { ...init, headers, redirect: 'manual' })
    for (const line of resp.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';')
      const i = pair.indexOf('=')
      const name = pair.slice(0, i).trim()
      const value = pair.slice(i + 1).trim()
      const gone = attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a)) || value === ''
      if (gone) this.jar.delete(name)
      else this.jar.set(name, value)
    }
    return resp
  }

  post(url, fields) {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    })
  }
}

/** Follows our own redirects, signs in, answers the consent page with `decision`, and stops at
 * the redirect to the client's redirect URI (which need not exist). */
async function browseToCallback(start, o, seen, decision = 'allow') {
  const browser = new Browser()
  let url = start.href
  let resp = await browser.request(url)
  for (let i = 0; i < 12; i++) {
    if ([301, 302, 303, 307, 308].includes(resp.status)) {
      const location = new URL(resp.headers.get('location'), url).href
      seen.push(`${resp.status} -> ${new URL(location).pathname}`)
      if (location.startsWith(o.redirectUri)) return location
      check(location.startsWith(`${o.issuer}/`), `redirected off the server to ${location}`)
      url = location
      resp = await browser.request(url)
      continue
    }
    const html = await resp.text()
    check(resp.status === 200, `unexpected status ${resp.status} at ${url}: ${html.slice(0, 300)}`)
    const forms = formsOf(html).filter((f) => f.method === 'post')
    const login = forms.find((f) => f.action === '/login')
    const consent = forms.find((f) => f.action === '/oauth2/consent')
    const hidden = (f) => f.inputs.filter((i) => i.type === 'hidden' && i.name).map((i) => [i.name, i.value ?? ''])
    if (login) {
      seen.push('login page')
      const fields = hidden(login)
      check(fields.some(([n]) => n === 'next'), 'the sign-in form does not carry the authorization request (next)')
      url = new URL(login.action, url).href
      resp = await browser.post(url, [...fields, ['email', o.email], ['password', o.password]])
    } else if (consent) {
      seen.push('consent page')
      check(consent.buttons.some((b) => b.name === 'decision' && b.value === decision), `no ${decision} button`)
      url = new URL(consent.action, url).href
      resp = await browser.post(url, [...hidden(consent), ['decision', decision]])
    } else {
      throw new Failed(`a page with neither a sign-in nor a consent form at ${url}: ${html.slice(0, 300)}`)
    }
  }
  throw new Failed('too many steps before reaching the redirect URI')
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
