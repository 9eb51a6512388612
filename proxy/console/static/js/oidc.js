// OpenID Connect sign-in: authorization code flow with PKCE (S256), as a public client.
//
// Tokens live in this page's memory only: never localStorage, sessionStorage or a cookie, so
// a reload or a closed tab signs out. Only the PKCE verifier, state and nonce wait in
// sessionStorage across the round trip to the IdP, and are removed on return.

const PENDING = 'alpr-proxy.sign-in';

function b64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function random() {
  return b64url(crypto.getRandomValues(new Uint8Array(32)));
}

export function decodeJwt(token) {
  const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

export function redirectUri() {
  return `${window.location.origin}/console/callback`;
}

export async function discover(issuer) {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const response = await fetch(url, { credentials: 'omit' });
  if (!response.ok) throw new Error(`the identity provider's discovery failed (${response.status})`);
  const doc = await response.json();
  if (doc.issuer !== issuer) throw new Error('the discovery document names another issuer');
  return doc;
}

export async function beginSignIn(config, doc) {
  const pending = { verifier: random(), state: random(), nonce: random() };
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(pending.verifier));
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: config.client_id,
    redirect_uri: redirectUri(),
    scope: config.scopes.join(' '),
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: b64url(new Uint8Array(digest)),
    code_challenge_method: 'S256',
  });
  if (config.resource) params.set('resource', config.resource);
  window.location.assign(`${doc.authorization_endpoint}?${params}`);
}

function checkIdToken(claims, doc, config, nonce) {
  const audiences = [].concat(claims.aud);
  if (claims.iss !== doc.issuer) throw new Error('ID token from another issuer');
  if (!audiences.includes(config.client_id)) throw new Error('ID token for another client');
  if (claims.nonce !== nonce) throw new Error('ID token nonce mismatch: start again');
  if (claims.exp * 1000 < Date.now()) throw new Error('ID token expired');
}

// Back from the IdP with ?code&state: the code for tokens at the token endpoint. The ID token
// came straight from the IdP over the connection this page opened, so its claims are checked
// but its signature is left to the proxy's check of the access token (OIDC Core 3.1.3.7).
export async function finishSignIn(config, doc, query) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  const params = new URLSearchParams(query);
  if (params.get('error')) {
    throw new Error(`sign-in refused: ${params.get('error_description') || params.get('error')}`);
  }
  if (!pending || params.get('state') !== pending.state) {
    throw new Error('this sign-in was not started here, or was started twice: sign in again');
  }
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code: params.get('code') || '',
    redirect_uri: redirectUri(),
    client_id: config.client_id,
    code_verifier: pending.verifier,
  });
  if (config.resource) body.set('resource', config.resource);
  const response = await fetch(doc.token_endpoint, { method: 'POST', body, credentials: 'omit' });
  const tokens = await response.json();
  if (!response.ok) throw new Error(`token request refused: ${tokens.error || response.status}`);
  const idClaims = decodeJwt(tokens.id_token);
  checkIdToken(idClaims, doc, config, pending.nonce);
  return sessionFrom(tokens.access_token, tokens.expires_in, idClaims);
}

export function sessionFrom(accessToken, expiresIn, idClaims = {}) {
  return {
    accessToken,
    expiresAt: Date.now() + expiresIn * 1000,
    claims: { ...idClaims, ...decodeJwt(accessToken) },
  };
}
