// The console's shell: sign-in (OpenID Connect, or the demo's), who you are, the log's state.
import * as api from './api.js';
import { $, facts, h, show, status } from './dom.js';
import * as oidc from './oidc.js';

let session = null; // {accessToken, expiresAt, claims}: memory only
let config = null;

function signedIn(newSession) {
  session = newSession;
  const c = session.claims;
  $('who-short').textContent = `${c.name || c.sub} · ${c.ori}`;
  facts('who', [
    ['User', c.sub],
    ['Name', c.name || '—'],
    ['Agency (ORI)', c.ori, 'ORI: the agency\'s nine-character NCIC Originating Agency Identifier.'],
    ['Roles', [].concat(c.roles || []).join(', ')],
    ['Signed in until', new Date(session.expiresAt).toLocaleString()],
  ]);
  show('signed-out', false);
  show('signed-in', true);
  show('sign-out', true);
  return refreshLog();
}

function signOut() {
  session = null; // the only copy of the token
  $('who-short').textContent = '';
  $('who').replaceChildren();
  show('signed-in', false);
  show('sign-out', false);
  show('signed-out', true);
  status('Signed out.');
}

async function refreshLog() {
  const cp = await api.checkpoint(session);
  facts('log-state', [
    ['Log', cp.origin, 'The name this audit log signs under.'],
    ['Tree size', cp.size, 'How many entries the log held when this checkpoint was signed.'],
    ['Root hash', cp.root, 'A fingerprint of all those entries: changing any one changes it.'],
  ]);
  const rows = cp.signers.map((name, i) => h('tr', {}, h('td', {}, name),
    h('td', {}, i === 0 ? 'the log itself' : 'witness')));
  $('signers').tBodies[0].replaceChildren(...rows);
}

function demoChoices(users) {
  const items = users.map((u) => {
    const button = h('button', { type: 'button', 'data-sub': u.sub },
      `${u.sub} — ${u.roles.join(', ')} — ${u.agency}`);
    button.addEventListener('click', () => guarded(async () => {
      const token = await api.demoToken(u.sub);
      await signedIn(oidc.sessionFrom(token.access_token, token.expires_in));
    }));
    return h('li', {}, button);
  });
  $('demo-users').replaceChildren(...items);
  show('demo-panel', true);
}

async function guarded(action) {
  status('');
  try {
    await action();
  } catch (err) {
    if (session && err.code === 'unauthenticated') signOut(); // expired or revoked: forget it
    status(err.message);
  }
}

async function main() {
  config = await api.consoleConfig();
  show('signed-out', true);
  if (config.demo_users) demoChoices(config.demo_users);
  if (!config.oidc) {
    show('no-sign-in', !config.demo_users);
    return;
  }
  show('oidc-panel', true);
  $('sign-in').addEventListener('click', () => guarded(async () => {
    await oidc.beginSignIn(config.oidc, await oidc.discover(config.oidc.issuer));
  }));
  if (window.location.pathname === '/console/callback') {
    const query = window.location.search;
    window.history.replaceState(null, '', '/console/'); // the code is single-use anyway
    const doc = await oidc.discover(config.oidc.issuer);
    await signedIn(await oidc.finishSignIn(config.oidc, doc, query));
  }
}

$('sign-out').addEventListener('click', signOut);
$('refresh-log').addEventListener('click', () => guarded(refreshLog));
guarded(main);
