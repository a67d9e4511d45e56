// The benchmark's peer: the OpenID-certified Node `oidc-provider`, configured with one
// confidential client for client_credentials (client_secret_basic) and token introspection.
// Tokens are opaque by default; a `resource` of urn:bench:es256 / urn:bench:eddsa /
// urn:bench:rs256 asks for an RFC 9068 JWT signed with that algorithm.
// Usage: node server.mjs PORT  (prints "peer listening on PORT" when ready)
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 0);
const issuer = `http://127.0.0.1:${port}`;
const jwk = (type, opts) => generateKeyPairSync(type, opts).privateKey.export({ format: 'jwk' });
const keys = [
  { ...jwk('ec', { namedCurve: 'P-256' }), alg: 'ES256', use: 'sig' },
  { ...jwk('ed25519'), alg: 'EdDSA', use: 'sig' },
  { ...jwk('rsa', { modulusLength: 2048 }), alg: 'RS256', use: 'sig' },
];
const resourceServers = {
  'urn:bench:es256': 'ES256',
  'urn:bench:eddsa': 'EdDSA',
  'urn:bench:rs256': 'RS256',
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret-bench-secret-bench-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'api',
  }],
  jwks: { keys },
  scopes: ['api'],
  ttl: { ClientCredentials: 900 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => undefined,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx, resource) => {
        const alg = resourceServers[resource];
        if (!alg) throw new Error(`unknown resource ${resource}`);
        return { scope: 'api', audience: resource, accessTokenTTL: 900, accessTokenFormat: 'jwt', jwt: { sign: { alg } } };
      },
    },
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`peer listening on ${server.address().port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
