#!/usr/bin/env node
// Interop: the official MCP TypeScript SDK (`@modelcontextprotocol/sdk`) as an MCP client of a
// server protected by gatehouse-guard, with Gatehouse as the authorization server.
//
//   node mcp_sdk_client.mjs --server URL --email E --password P --redirect-uri URI
//                           [--client-metadata-url URL | --client-id ID]
//
// Everything about Gatehouse is discovered by the SDK itself: the server's 401 names its
// Protected Resource Metadata (RFC 9728 §5.1), which names Gatehouse (§2); the SDK reads
// Gatehouse's metadata (RFC 8414) and registers itself — with a Client ID Metadata Document when
// --client-metadata-url is given and Gatehouse advertises `client_id_metadata_document_supported`,
// otherwise by dynamic registration (RFC 7591); with --client-id it starts with a client an
// operator registered, as an MCP client configured by hand would — then runs the authorization code flow with PKCE
// and `resource` (RFC 8707). The sign-in and consent pages are answered by the form browser.
// Then the SDK connects again with the token, lists the tools and calls two of them.
//
// Prints one JSON object on stdout; exit code 0 only when every step passed.

import { parseArgs } from 'node:util'
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js'
import { browseToCallback, check } from './form_browser.mjs'

function options() {
  const { values } = parseArgs({
    options: {
      server: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      'redirect-uri': { type: 'string' },
      'client-metadata-url': { type: 'string' },
      'client-id': { type: 'string' },
    },
  })
  const missing = ['server', 'email', 'password', 'redirect-uri'].filter((k) => !values[k])
  if (missing.length) {
    console.error(`missing: ${missing.join(', ')}`)
    process.exit(2)
  }
  return {
    server: values.server,
    email: values.email,
    password: values.password,
    redirectUri: values['redirect-uri'],
    clientMetadataUrl: values['client-metadata-url'],
    clientId: values['client-id'],
  }
}

/** An in-memory OAuthClientProvider: what a desktop MCP client keeps in its settings. */
class Provider {
  constructor(o) {
    this.o = o
    this.clientMetadataUrl = o.clientMetadataUrl
    this.saved = o.clientId ? { client: { client_id: o.clientId } } : {}
    this.stateValue = randomBytes(16).toString('base64url')
  }
  get redirectUrl() {
    return this.o.redirectUri
  }
  get clientMetadata() {
    return {
      client_name: 'MCP SDK interop test',
      redirect_uris: [this.o.redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }
  }
  state() {
    return this.stateValue
  }
  clientInformation() {
    return this.saved.client
  }
  saveClientInformation(info) {
    this.saved.client = info
  }
  tokens() {
    return this.saved.tokens
  }
  saveTokens(tokens) {
    this.saved.tokens = tokens
  }
  redirectToAuthorization(url) {
    this.authorizationUrl = url
  }
  saveCodeVerifier(v) {
    this.verifier = v
  }
  codeVerifier() {
    return this.verifier
  }
}

const version = createRequire(import.meta.url)('@modelcontextprotocol/sdk/package.json').version

async function connect(o, provider) {
  const client = new Client({ name: 'gatehouse-interop', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(new URL(o.server), { authProvider: provider })
  await client.connect(transport)
  return { client, transport }
}

async function run(o, out) {
  const provider = new Provider(o)

  out.step = 'first connection (expect 401 and an authorization redirect)'
  let transport
  try {
    await connect(o, provider)
    throw new Error('connected without a token')
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e
  }
  check(provider.authorizationUrl, 'the SDK did not start an authorization')
  const authUrl = new URL(provider.authorizationUrl)
  out.client_id = provider.saved.client?.client_id
  out.registered_by = o.clientId
    ? 'operator'
    : o.clientMetadataUrl && out.client_id === o.clientMetadataUrl
      ? 'metadata_document'
      : 'dynamic'
  out.authorization_request = Object.fromEntries(
    ['client_id', 'resource', 'code_challenge_method', 'scope', 'response_type'].map((k) => [k, authUrl.searchParams.get(k)]),
  )
  check(authUrl.searchParams.get('state') === provider.stateValue, 'state missing from the authorization request')

  out.step = 'sign-in and consent'
  out.pages = []
  const issuer = authUrl.origin
  const callback = new URL(await browseToCallback(authUrl, { ...o, issuer }, out.pages))
  check(callback.searchParams.get('state') === provider.stateValue, 'state differs on the callback')
  // RFC 9207: the authorization server names itself on the response.
  out.callback_iss = callback.searchParams.get('iss')
  const code = callback.searchParams.get('code')
  check(code, `no code on the callback: ${callback.search}`)

  out.step = 'code exchange (finishAuth)'
  transport = new StreamableHTTPClientTransport(new URL(o.server), { authProvider: provider })
  await transport.finishAuth(code)
  const tokens = provider.saved.tokens
  check(tokens?.access_token, 'no access token saved')
  out.token_type = tokens.token_type
  out.scope = tokens.scope
  out.access_token = tokens.access_token

  out.step = 'second connection with the token'
  const { client } = await connect(o, provider)
  out.server_info = client.getServerVersion()
  const tools = await client.listTools()
  out.tools = tools.tools.map((t) => t.name).sort()

  out.step = 'tool calls'
  const whoami = await client.callTool({ name: 'whoami', arguments: {} })
  out.whoami = JSON.parse(whoami.content[0].text)
  const sum = await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } })
  out.sum = sum.content[0].text
  await client.close()
}

const o = options()
const out = { library: '@modelcontextprotocol/sdk', version, ok: false }
try {
  await run(o, out)
  out.ok = true
} catch (e) {
  out.error = `${e.name}: ${e.message}`
  if (e.cause !== undefined) out.cause = e.cause instanceof Error ? `${e.cause.name}: ${e.cause.message}` : e.cause
}
console.log(JSON.stringify(out, null, 2))
if (!out.ok) {
  console.error(`MCP SDK flow failed at ${out.step}: ${out.error}`)
  process.exit(1)
}
