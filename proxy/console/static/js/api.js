// The proxy's public API, as the console calls it. Every path is one of /openapi.json's
// (tests/console checks it). The bearer token is sent in a header, never a cookie: a page of
// another site cannot make the browser attach it, so cross-site request forgery has nothing
// to ride on.

export const PATHS = {
  config: '/v1/console/config',
  demoToken: '/v1/console/demo-token',
  checkpoint: '/v1/log/checkpoint',
};

async function call(path, session, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (session) headers.Authorization = `Bearer ${session.accessToken}`;
  const response = await fetch(path, { ...init, headers, credentials: 'omit' });
  if (!response.ok) {
    const error = new Error(`${response.status} ${response.statusText}`);
    try {
      const body = await response.json();
      if (body.error) {
        error.code = body.error.code;
        error.message = `${body.error.code}: ${body.error.message}`;
      }
    } catch {
      // not the JSON envelope: keep the status line
    }
    throw error;
  }
  return response;
}

export async function consoleConfig() {
  return (await call(PATHS.config, null)).json();
}

export async function demoToken(sub) {
  const response = await call(PATHS.demoToken, null, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ sub }),
  });
  return response.json();
}

// The latest checkpoint (a C2SP signed note): origin, tree size, root hash, then after a
// blank line one "— name signature" line per signer (the log's key first, then witnesses).
export async function checkpoint(session) {
  const text = await (await call(PATHS.checkpoint, session)).text();
  const [body, signatures = ''] = text.split('\n\n');
  const [origin, size, root] = body.split('\n');
  const signers = signatures
    .split('\n')
    .filter((line) => line.startsWith('\u2014 '))
    .map((line) => line.slice(2).split(' ')[0]);
  return { origin, size: Number(size), root, signers };
}
