// The SPA's browser suite: headless Chromium (the system's, never a download)
// through playwright-core against a running SPA whose /graphql reaches authql
// in cookie mode. browser_test.go starts all of that and runs this file:
//
//   SPA_URL=http://127.0.0.1:PORT CHROMIUM=/usr/bin/chromium node e2e/run.mjs
//
// Each flow prints "ok N - name (ms)" or "not ok"; the exit code is the verdict.
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const base = process.env.SPA_URL;
if (!base) throw new Error('SPA_URL is not set');
const ttl = Number(process.env.ACCESS_TOKEN_TTL_MS ?? 2000);
const results = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-results');
mkdirSync(results, { recursive: true });
const timeout = 8000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  // Root in a container has no user namespaces for Chromium's sandbox; the
  // network is closed, so nothing should try to reach out (QUIC included).
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking'],
});

// Token lifetimes are whole seconds: past this, every access token issued
// before the wait has expired.
const expire = () => new Promise((r) => setTimeout(r, ttl + 1100));

/** A tab that records the GraphQL operations it sends, by operationName. */
async function tab(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.ops = [];
  page.on('request', (req) => {
    if (req.url().endsWith('/graphql') && req.method() === 'POST') page.ops.push(JSON.parse(req.postData() ?? '{}').operationName);
  });
  /** Runs fn and returns the operations it sent. */
  page.sent = async (fn) => {
    const from = page.ops.length;
    await fn();
    return page.ops.slice(from);
  };
  return page;
}

const count = (ops, name) => ops.filter((o) => o === name).length;

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function signedInAs(page, email) {
  await page.getByTestId('email').filter({ hasText: email }).waitFor();
}

/** Clicks "Reload account" and waits until the page has been drawn anew (or left). */
async function reloadAccount(page) {
  const stale = page.locator('main > section');
  await stale.evaluate((el) => el.setAttribute('data-stale', ''));
  await page.getByRole('button', { name: 'Reload account' }).click();
  await page.locator('main > section[data-stale]').waitFor({ state: 'detached' });
}

async function onLoginPage(page, notice) {
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  if (notice) await page.getByRole('status').filter({ hasText: notice }).waitFor();
}

async function submit(page, form, values, button) {
  const f = page.getByRole('form', { name: form });
  for (const [label, value] of Object.entries(values)) await f.getByLabel(label, { exact: true }).fill(value);
  await f.getByRole('button', { name: button }).click();
}

const login = (page, email, password) => submit(page, 'Log in', { Email: email, Password: password }, 'Log in');

const flows = [];
const flow = (name, fn) => flows.push({ name, fn });

const email = `spa-${Date.now()}@example.com`;
const password = 'correct horse battery';
const laptop = await browser.newContext({ baseURL: base });
const phone = await browser.newContext({ baseURL: base });
let a, b, c; // laptop's two tabs, and the phone

flow('signup keeps the access token in memory only', async () => {
  a = await tab(laptop);
  await a.goto('/signup');
  await submit(a, 'Sign up', { Email: email, Password: password }, 'Sign up');
  await signedInAs(a, email);
  const stored = await a.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
  assert(!stored.includes('eyJ'), `a token is readable by scripts: ${stored}`);
  const cookies = await laptop.cookies();
  const refresh = cookies.find((k) => k.name === '__Host-authql_refresh');
  assert(refresh?.httpOnly && refresh.secure && refresh.sameSite === 'Strict', `refresh cookie: ${JSON.stringify(cookies)}`);
});

flow('a reload restores the session through the cookie', async () => {
  const ops = await a.sent(async () => {
    await a.reload();
    await signedInAs(a, email);
  });
  assert(count(ops, 'Refresh') === 1, `sent ${ops}`);
});

flow('login, and a wrong password is refused', async () => {
  c = await tab(phone);
  await c.goto('/');
  await onLoginPage(c);
  await login(c, email, 'not the password');
  await c.getByRole('alert').filter({ hasText: 'Wrong email or password.' }).waitFor();
  await login(c, email, password);
  await signedInAs(c, email);
});

flow('an expired access token is refreshed silently', async () => {
  await expire();
  const ops = await a.sent(async () => {
    await reloadAccount(a);
    await signedInAs(a, email);
  });
  assert(count(ops, 'Refresh') === 1 && count(ops, 'Me') === 2, `sent ${ops}`);
});

flow('concurrent requests share one refresh', async () => {
  await expire();
  // One of the two answers comes late, after the refresh is done: it carried
  // the old token, so it is retried with the new one and no second refresh.
  let delayed = false;
  await a.route('**/graphql', async (route) => {
    if (delayed || JSON.parse(route.request().postData() ?? '{}').operationName !== 'AuditEvents') return route.continue();
    delayed = true;
    const response = await route.fetch();
    await new Promise((r) => setTimeout(r, 700));
    await route.fulfill({ response });
  });
  const ops = await a.sent(async () => {
    await a.getByRole('link', { name: 'Sessions' }).click();
    await a.getByRole('table', { name: 'Recent activity' }).waitFor();
  });
  await a.unrouteAll();
  assert(count(ops, 'Refresh') === 1, `sent ${ops}`);
  assert(count(ops, 'Sessions') === 2 && count(ops, 'AuditEvents') === 2, `want both queries retried once, sent ${ops}`);
  await a.getByRole('link', { name: 'Account' }).click();
  await signedInAs(a, email);
});

flow('two tabs refreshing at once both stay logged in', async () => {
  b = await tab(laptop);
  await b.goto('/');
  await signedInAs(b, email);
  for (let round = 0; round < 2; round++) {
    await expire();
    const [opsA, opsB] = await Promise.all(
      [a, b].map((p) =>
        p.sent(async () => {
          await reloadAccount(p);
          await signedInAs(p, email);
        }),
      ),
    );
    assert(count(opsA, 'Refresh') === 1 && count(opsB, 'Refresh') === 1, `round ${round}: sent ${opsA} and ${opsB}`);
  }
});

flow("revoking the phone's session logs it out on its next request", async () => {
  await a.getByRole('link', { name: 'Sessions' }).click();
  const rows = a.getByRole('table', { name: 'Sessions' }).locator('tbody tr');
  await a.waitForFunction(() => document.querySelectorAll('table[aria-label="Sessions"] tbody tr').length === 2);
  await a.getByRole('table', { name: 'Recent activity' }).getByText('signup').waitFor();
  await a.screenshot({ path: join(results, 'sessions.png'), fullPage: true });
  await a.getByRole('button', { name: /^Revoke session/ }).click();
  await a.waitForFunction(() => document.querySelectorAll('table[aria-label="Sessions"] tbody tr').length === 1);
  assert((await rows.count()) === 1, 'the revoked session is still listed');
  await a.getByRole('table', { name: 'Recent activity' }).getByText('session_revoked').waitFor();

  const ops = await c.sent(async () => {
    await reloadAccount(c);
    await onLoginPage(c, 'Your session has ended');
  });
  assert(count(ops, 'Refresh') === 1, `sent ${ops}`);
  await c.reload();
  await onLoginPage(c);
});

flow('logout ends the session in every tab', async () => {
  await a.getByRole('button', { name: 'Log out' }).click();
  await onLoginPage(a, 'You are logged out');
  await reloadAccount(b);
  await onLoginPage(b, 'Your session has ended');
  await a.reload();
  await onLoginPage(a);
  const cookies = await laptop.cookies();
  assert(!cookies.some((k) => k.name === '__Host-authql_refresh'), `cookie kept: ${JSON.stringify(cookies)}`);
});

/** The newest link of kind (verify-email, reset-password) mailed to addr, as the SMTP server received it. */
async function mailedLink(addr, kind) {
  const res = await fetch(`${base}/__test/mail?to=${encodeURIComponent(addr)}&kind=${kind}`);
  const body = await res.text();
  assert(res.ok, `mail: ${body}`);
  assert(body.startsWith(`${base}/${kind}#token=`), `link ${body} is not the SPA's /${kind} page`);
  return body;
}

flow('the verification mail link verifies the email', async () => {
  const link = await mailedLink(email, 'verify-email');
  const e = await tab(laptop);
  await e.goto(link);
  await e.getByRole('status').filter({ hasText: `${email} is verified.` }).waitFor();
  assert(!e.url().includes('token'), `the token stays in the address bar: ${e.url()}`);
  await e.goto(link);
  await e.getByRole('alert').filter({ hasText: 'This link is invalid or has expired.' }).waitFor();
  await e.close();
});

flow('a password reset from the mailed link signs in with the new password', async () => {
  const e = await tab(laptop);
  await e.goto('/login');
  await e.getByRole('link', { name: 'Forgot your password?' }).click();
  await submit(e, 'Request a reset link', { Email: email }, 'Send reset link');
  await e.getByRole('status').filter({ hasText: 'a reset link is on its way' }).waitFor();

  const link = await mailedLink(email, 'reset-password');
  await e.goto(link);
  assert(!e.url().includes('token'), `the token stays in the address bar: ${e.url()}`);
  await submit(e, 'New password', { 'New password': 'a brand new passphrase' }, 'Set password');
  await signedInAs(e, email);
  await e.getByRole('status').filter({ hasText: 'Your password was changed' }).waitFor();
  await e.getByText('verified', { exact: true }).waitFor();

  // The link is spent, and only the new password logs in.
  await e.goto(link);
  await submit(e, 'New password', { 'New password': 'another new passphrase' }, 'Set password');
  await e.getByRole('alert').filter({ hasText: 'This link is invalid or has expired.' }).waitFor();
  const f = await tab(await browser.newContext({ baseURL: base }));
  await f.goto('/login');
  await login(f, email, password);
  await f.getByRole('alert').filter({ hasText: 'Wrong email or password.' }).waitFor();
  await login(f, email, 'a brand new passphrase');
  await signedInAs(f, email);
  await f.context().close();
});

/** Calls authql through the SPA's origin as a script would, outside the browser. */
async function gql(query, variables = {}, token) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token && { Authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(`${query}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** The RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret, steps from now. */
function totp(secret, steps = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + steps));
  const mac = createHmac('sha1', key).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1e6).padStart(6, '0');
}

flow('login with a second factor: MFA_REQUIRED, then verifyMfa', async () => {
  const mfaEmail = `spa-mfa-${Date.now()}@example.com`;
  const { signup } = await gql('mutation($e: String!, $p: String!) { signup(input: {email: $e, password: $p}) { accessToken } }', { e: mfaEmail, p: password });
  const { enrollTotp } = await gql('mutation { enrollTotp { secret } }', {}, signup.accessToken);
  await gql('mutation($c: String!) { confirmTotp(code: $c) }', { c: totp(enrollTotp.secret) }, signup.accessToken);

  const d = await tab(await browser.newContext({ baseURL: base }));
  await d.goto('/login');
  await login(d, mfaEmail, password);
  const step = d.getByRole('form', { name: 'Two-factor code' });
  const near = [-1, 0, 1, 2].map((n) => totp(enrollTotp.secret, n));
  await step.getByLabel('Code').fill(['000000', '111111', '222222', '333333', '444444'].find((c) => !near.includes(c)));
  await step.getByRole('button', { name: 'Verify' }).click();
  await step.getByRole('alert').filter({ hasText: 'That code did not work.' }).waitFor();
  // The confirmation spent this step's code: a code is good once per account.
  await step.getByLabel('Code').fill(totp(enrollTotp.secret, 1));
  await step.getByRole('button', { name: 'Verify' }).click();
  await signedInAs(d, mfaEmail);
  await d.getByText('Two-factor authentication is on.').waitFor();
  await d.context().close();
});

let passed = 0;
let failed = 0;
const started = Date.now();
for (const [i, { name, fn }] of flows.entries()) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok ${i + 1} - ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    failed++;
    console.log(`not ok ${i + 1} - ${name} (${Date.now() - t0} ms)\n  ${String(err?.stack ?? err).replaceAll('\n', '\n  ')}`);
    for (const [tabName, p] of Object.entries({ a, b, c })) {
      if (p && !p.isClosed()) await p.screenshot({ path: join(results, `failure-${i + 1}-${tabName}.png`) }).catch(() => {});
    }
    break; // later flows build on earlier ones
  }
}
await browser.close();
console.log(`browser: ${passed} passed, ${failed} failed, ${flows.length - passed - failed} not run (${Date.now() - started} ms)`);
process.exit(failed || passed !== flows.length ? 1 : 0);
