// "The Google" of the federation e2e tests: the OpenID-certified Node `oidc-provider` on a
// random loopback port, with one confidential client (client_secret_basic) registered for
// Gatehouse's callback, PKCE required, and interactions completed automatically for the test
// user (no devInteractions): the login prompt signs in the current test user, the consent
// prompt grants what was asked.
//
// Usage: node upstream_op.mjs --client-id=ID --client-secret=SECRET --redirect-uri=URI
// Prints one JSON line {"issuer": …} when ready. Test control (loopback only, tests only):
//   POST /__test/user  {"sub", "email", "email_verified", "deny"}  who signs in next (or refuse)
//   GET  /__test/stats                                            {"logins": n}
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const arg = (name) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (!hit) throw new Error(`missing --${name}=`);
  return hit.slice(name.length + 3);
};
const clientId = arg('client-id');
const clientSecret = arg('client-secret');
const redirectUri = arg('redirect-uri');

let user = { sub: 'alice-upstream-sub', email: 'alice@upstream.example', email_verified: true, name: 'Alice', deny: false };
let logins = 0;
let provider;

const body = (req) => new Promise((resolve, reject) => {
  let text = '';
  req.on('data', (c) => { text += c; });
  req.on('end', () => { try { resolve(text ? JSON.parse(text) : {}); } catch (e) { reject(e); } });
});

async function control(req, res) {
  if (req.method === 'POST' && req.url === '/__test/user') {
    user = { ...user, deny: false, ...(await body(req)) };
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ logins, user }));
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  let result;
  if (user.deny) {
    // RFC 6749 §4.1.2.1: the user (or the provider) refused. The description is hostile on
    // purpose: Gatehouse must show it escaped, never as markup.
    result = { error: 'access_denied', error_description: '<script>alert("x")</script> the user said no' };
  } else if (details.prompt.name === 'login') {
    logins += 1;
    result = { login: { accountId: user.sub } };
  } else {
    const { prompt: { details: missing }, params, session } = details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

const server = createServer((req, res) => {
  const handle = req.url.startsWith('/__test/') ? control
    : req.url.startsWith('/interaction/') ? interaction
      : provider.callback();
  Promise.resolve(handle(req, res)).catch((e) => {
    console.error(e);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});

server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const key = { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'op-key-1' };
  provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [key] },
    cookies: { keys: ['upstream-op-test-cookie-key'] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    // The claims of the granted scopes go into the ID token, as Google does.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, i) => `/interaction/${i.uid}` },
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return { sub, email: user.email, email_verified: user.email_verified, name: user.name };
        },
      };
    },
  });
  console.log(JSON.stringify({ issuer }));
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
