// A real OpenID provider (panva's oidc-provider, OpenID Certified) for the console's sign-in
// tests. Started by tests/oidc/provider.py; not a mock: discovery, PKCE, the token endpoint,
// JWT access tokens and the JWKS are the library's own.
//
//   node provider.mjs CONFIG.json
//
// CONFIG: {"audience": "alpr-proxy", "scope": "alpr",
//          "clients": [{"client_id": "...", "redirect_uris": ["http://127.0.0.1:PORT/console/"]}],
//          "users": {"det.alvarez": {"ori": "CA0010900", "roles": ["investigator"], "name": "..."}}}
// Prints `issuer http://127.0.0.1:PORT` once it listens (an ephemeral port).

import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const resource = `urn:${config.audience}`;

// ES256: the proxy accepts only asymmetric algorithms (SPEC §5).
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'test-es256' };

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

// The proxy's claims (SPEC §5), in both the ID token (who signed in) and the access token.
function claimsOf(sub) {
  const user = config.users[sub];
  return user && { ori: user.ori, roles: user.roles, name: user.name ?? sub };
}

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  clients: config.clients.map((c) => ({
    client_id: c.client_id,
    redirect_uris: c.redirect_uris,
    post_logout_redirect_uris: c.redirect_uris,
    token_endpoint_auth_method: 'none', // a browser app: public client, PKCE instead of a secret
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: 'ES256',
  })),
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['name'], alpr: ['ori', 'roles'] },
  scopes: ['openid', 'profile', config.scope],
  conformIdTokenClaims: false, // ori and roles in the ID token, not only from userinfo
  async findAccount(_ctx, sub) {
    const claims = claimsOf(sub);
    if (!claims) return undefined; // an unknown login fails the sign-in
    return { accountId: sub, claims: async () => ({ sub, ...claims }) };
  },
  // First-party console: consent is implied; the grant is made here rather than by a click.
  async loadExistingGrant(ctx) {
    const { client, session } = ctx.oidc;
    const found = session.grantIdFor(client.clientId);
    if (found) return ctx.oidc.provider.Grant.find(found);
    const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope(`openid profile ${config.scope}`);
    grant.addOIDCClaims(['ori', 'roles', 'name']);
    grant.addResourceScope(resource, config.scope);
    await grant.save();
    return grant;
  },
  clientBasedCORS(_ctx, origin, client) {
    return client.redirectUris.some((uri) => new URL(uri).origin === origin);
  },
  async extraTokenClaims(_ctx, token) {
    return token.kind === 'AccessToken' ? claimsOf(token.accountId) : undefined;
  },
  features: {
    devInteractions: { enabled: true }, // the library's own login form (any password)
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: config.scope,
        audience: config.audience,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  ttl: { AccessToken: 600, IdToken: 600, Session: 3600, Interaction: 600, Grant: 3600 },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

server.on('request', provider.callback());
process.stdout.write(`issuer ${issuer}\n`);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
