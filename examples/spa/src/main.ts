import type { CombinedError } from '@urql/core';
import { field, form, h } from './dom';
import type { TokensFragment } from './gql/graphql';
import {
  AuditEventsQuery,
  LoginMutation,
  MeQuery,
  RequestPasswordResetMutation,
  ResetPasswordMutation,
  RevokeSessionMutation,
  SessionsQuery,
  SignupMutation,
  VerifyEmailMutation,
  VerifyMfaMutation,
} from './operations';
import { client, currentViewer, errorCode, logout, onSessionChange, refreshSession, startSession } from './session';

const app = document.getElementById('app')!;
const nav = document.getElementById('nav')!;

// Mail links carry their token in the fragment, which never reaches a server
// log or a Referer. Take it once and drop it from the address bar and history.
const fragmentToken = new URLSearchParams(location.hash.slice(1)).get('token');
if (location.hash) history.replaceState(null, '', location.pathname);

let notice = '';

function message(error: CombinedError | undefined): string {
  switch (errorCode(error)) {
    case 'INVALID_CREDENTIALS':
      return 'Wrong email or password.';
    case 'EMAIL_TAKEN':
      return 'An account with this email already exists.';
    case 'INVALID_TOKEN':
      return 'This link is invalid or has expired.';
    case 'INVALID_MFA_CODE':
      return 'That code did not work.';
    case 'RATE_LIMITED':
      return `Too many attempts; try again in ${error?.graphQLErrors[0]?.extensions?.retryAfter ?? 'a few'} seconds.`;
    case 'BAD_USER_INPUT':
      return error?.graphQLErrors[0]?.message ?? 'Check the form.';
    default:
      return error?.graphQLErrors[0]?.message ?? 'Something went wrong; try again.';
  }
}

function link(href: string, text: string): HTMLAnchorElement {
  return h('a', { href, 'data-link': true }, text);
}

function welcome(tokens: TokensFragment, note = ''): void {
  notice = note;
  startSession(tokens);
}

export function navigate(path: string): void {
  if (location.pathname !== path) history.pushState(null, '', path);
  void render();
}

const loginPage = (): Node => {
  const mfa = h('div');
  const login = form('Log in', [field('Email', 'email', 'email', 'username'), field('Password', 'password', 'password', 'current-password')], 'Log in', async (v) => {
    const r = await client.mutation(LoginMutation, { email: v.email, password: v.password }).toPromise();
    if (r.data) return welcome(r.data.login);
    if (errorCode(r.error) === 'MFA_REQUIRED') {
      const mfaToken = String(r.error?.graphQLErrors[0]?.extensions?.mfaToken ?? '');
      login.hidden = true;
      mfa.replaceChildren(mfaForm(mfaToken));
      return;
    }
    return message(r.error);
  });
  return h('section', {}, h('h1', {}, 'Log in'), notice && h('p', { role: 'status' }, notice), login, mfa,
    h('p', {}, link('/signup', 'Create an account'), ' · ', link('/forgot-password', 'Forgot your password?')));
};

// The second step of a login that answered MFA_REQUIRED.
const mfaForm = (mfaToken: string): Node =>
  form('Two-factor code', [h('p', {}, 'Enter the code from your authenticator app, or a recovery code.'), field('Code', 'code', 'text', 'one-time-code')], 'Verify', async (v) => {
    const r = await client.mutation(VerifyMfaMutation, { mfaToken, code: v.code.trim() }).toPromise();
    if (r.data) return welcome(r.data.verifyMfa);
    if (errorCode(r.error) === 'INVALID_TOKEN') return 'This login has expired; log in again.';
    return message(r.error);
  });

const signupPage = (): Node =>
  h('section', {}, h('h1', {}, 'Create an account'),
    form('Sign up', [field('Email', 'email', 'email', 'username'), field('Password', 'password', 'password', 'new-password')], 'Sign up', async (v) => {
      const r = await client.mutation(SignupMutation, { email: v.email, password: v.password }).toPromise();
      if (r.data) return welcome(r.data.signup);
      return message(r.error);
    }),
    h('p', {}, 'Already have one? ', link('/login', 'Log in')));

const forgotPage = (): Node => {
  const done = h('p', { role: 'status' });
  return h('section', {}, h('h1', {}, 'Reset your password'),
    form('Request a reset link', [field('Email', 'email', 'email', 'username')], 'Send reset link', async (v) => {
      const r = await client.mutation(RequestPasswordResetMutation, { email: v.email }).toPromise();
      if (r.error) return message(r.error);
      done.textContent = 'If that address has an account, a reset link is on its way.';
    }), done);
};

const resetPage = (): Node => {
  if (!fragmentToken) return h('section', {}, h('h1', {}, 'Reset your password'), h('p', { role: 'alert' }, 'This link has no token.'));
  return h('section', {}, h('h1', {}, 'Choose a new password'),
    form('New password', [field('New password', 'password', 'password', 'new-password')], 'Set password', async (v) => {
      const r = await client.mutation(ResetPasswordMutation, { token: fragmentToken, newPassword: v.password }).toPromise();
      if (!r.data) return message(r.error);
      welcome(r.data.resetPassword, 'Your password was changed; every other session was signed out.');
    }));
};

const verifyPage = async (): Promise<Node> => {
  const title = h('h1', {}, 'Verify your email');
  if (!fragmentToken) return h('section', {}, title, h('p', { role: 'alert' }, 'This link has no token.'));
  const r = await client.mutation(VerifyEmailMutation, { token: fragmentToken }).toPromise();
  if (!r.data) return h('section', {}, title, h('p', { role: 'alert' }, message(r.error)));
  return h('section', {}, title, h('p', { role: 'status' }, `${r.data.verifyEmail.email} is verified.`), link(currentViewer() ? '/' : '/login', 'Continue'));
};

const homePage = async (): Promise<Node | null> => {
  const r = await client.query(MeQuery, {}).toPromise();
  if (!r.data) return null;
  const me = r.data.me;
  return h('section', {}, h('h1', {}, 'Your account'), notice && h('p', { role: 'status' }, notice),
    h('p', {}, 'Signed in as ', h('strong', { 'data-testid': 'email' }, me.email), ' ', me.emailVerified ? h('span', { class: 'badge' }, 'verified') : '(email not verified)'),
    h('p', {}, me.mfaEnabled ? 'Two-factor authentication is on.' : 'Two-factor authentication is off.'),
    h('button', { type: 'button', onclick: () => void render() }, 'Reload account'));
};

const sessionsPage = async (): Promise<Node | null> => {
  // Two queries at once: when the access token has expired, both fail and
  // the client still sends one refresh for the two.
  const [r, audit] = await Promise.all([client.query(SessionsQuery, {}).toPromise(), client.query(AuditEventsQuery, { first: 20 }).toPromise()]);
  if (!r.data || !audit.data) return null;
  const alert = h('p', { role: 'alert' });
  const rows = r.data.sessions.map((s) =>
    h('tr', { 'data-session': s.id },
      h('td', {}, new Date(s.createdAt).toLocaleString(), ' ', s.current && h('span', { class: 'badge' }, 'this browser')),
      h('td', {}, new Date(s.lastUsedAt).toLocaleString()),
      h('td', { class: 'ua', title: s.userAgent ?? '' }, s.userAgent ?? '—'),
      h('td', {}, s.ipAddress ?? '—'),
      h('td', {}, s.current ? '' : h('button', {
        type: 'button', class: 'danger', 'aria-label': `Revoke session ${s.id}`,
        onclick: async () => {
          const res = await client.mutation(RevokeSessionMutation, { id: s.id }).toPromise();
          if (res.error) alert.textContent = message(res.error);
          else void render();
        },
      }, 'Revoke'))));
  const events = audit.data.myAuditEvents.edges.map(({ node: e }) =>
    h('tr', {}, h('td', {}, new Date(e.createdAt).toLocaleString()), h('td', {}, e.type + (e.count > 1 ? ` ×${e.count}` : '')), h('td', {}, e.ipAddress ?? '—'), h('td', {}, e.detail ?? '')));
  return h('section', {}, h('h1', {}, 'Sessions'), alert,
    h('table', { 'aria-label': 'Sessions' }, h('thead', {}, h('tr', {}, ...['Started', 'Last used', 'Browser', 'IP', ''].map((t) => h('th', {}, t)))), h('tbody', {}, ...rows)),
    h('h2', {}, 'Recent activity'),
    h('table', { 'aria-label': 'Recent activity' }, h('thead', {}, h('tr', {}, ...['When', 'Event', 'IP', 'Detail'].map((t) => h('th', {}, t)))), h('tbody', {}, ...events)));
};

type Page = () => Node | null | Promise<Node | null>;
const publicPages: Record<string, Page> = {
  '/login': loginPage,
  '/signup': signupPage,
  '/forgot-password': forgotPage,
  '/reset-password': resetPage,
  '/verify-email': verifyPage,
};
const privatePages: Record<string, Page> = { '/': homePage, '/sessions': sessionsPage };

function renderNav(): void {
  const v = currentViewer();
  nav.replaceChildren(...(v
    ? [link('/', 'Account'), link('/sessions', 'Sessions'), h('button', { type: 'button', class: 'link', onclick: async () => { await logout(); notice = 'You are logged out.'; navigate('/login'); } }, 'Log out')]
    : [link('/login', 'Log in'), link('/signup', 'Sign up')]));
}

let rendering = 0;
async function render(): Promise<void> {
  const seq = ++rendering;
  renderNav();
  const path = location.pathname;
  const pub = publicPages[path];
  if (pub) {
    // Logged in already: the entry pages lead home; the mail links work either way.
    if (currentViewer() && (path === '/login' || path === '/signup')) return navigate('/');
    const node = await pub();
    if (seq === rendering && node) app.replaceChildren(node);
    return;
  }
  const page = privatePages[path];
  if (!page) {
    app.replaceChildren(h('h1', {}, 'Not found'), link('/', 'Home'));
    return;
  }
  if (!currentViewer()) return navigate('/login');
  // A null page means its query failed; when that was because the session
  // ended, the session listener has already moved on to the login page.
  const node = await page();
  if (seq !== rendering) return;
  if (node) app.replaceChildren(node);
  else if (currentViewer()) app.replaceChildren(h('p', { role: 'alert' }, 'Could not load this page; try again.'));
}

onSessionChange((_viewer, reason) => {
  if (reason === 'login') navigate('/');
  else if (reason === 'ended') {
    notice = 'Your session has ended; log in again.';
    navigate('/login');
  } else renderNav();
});

document.addEventListener('click', (e) => {
  const a = (e.target as Element).closest('a[data-link]');
  if (!a || e.defaultPrevented || (e as MouseEvent).button !== 0 || (e as MouseEvent).metaKey || (e as MouseEvent).ctrlKey) return;
  e.preventDefault();
  notice = '';
  navigate(a.getAttribute('href')!);
});
window.addEventListener('popstate', () => void render());

// A reload loses the in-memory access token; the cookie brings the session back.
await refreshSession();
await render();
