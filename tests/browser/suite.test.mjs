// Browser end-to-end scenarios: a person in headless Chromium on latchkey-server's pages, the
// `latchkey` CLI as their device. Run with tests/browser/run.sh (it sets up the keyring session
// the CLI needs). Each scenario gets its own server, device and browser context; checks that do
// not stop the walk (accessibility, console, CSP, layout, expected texts) are collected and
// reported per page state when the scenario ends.

import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

import { DevServer, Device, killChildren } from './lib/latchkey.mjs';
import { CHROMIUM_LAUNCH, Walk, formatProblems } from './lib/walk.mjs';

const PASSWORD = 'correct horse battery';
const PIN = '4826';
const WEAK_PIN = '1234';
const WRONG_PIN = '7391';
const NEW_PIN = '5937';
const MAX_PIN_ATTEMPTS = 5; // latchkey-server --max-pin-attempts default

let browser;
let scenarios = 0;
const allProblems = [];

before(async () => {
  browser = await chromium.launch(CHROMIUM_LAUNCH);
});

after(async () => {
  await browser?.close();
  killChildren();
  if (allProblems.length) {
    // One list for the whole run, the same problem seen in several scenarios given once.
    const seen = new Map();
    for (const p of allProblems) {
      const key = `${p.state}\u0000${p.check}\u0000${p.details}`;
      if (!seen.has(key)) seen.set(key, { ...p, scenarios: [] });
      seen.get(key).scenarios.push(p.scenario);
    }
    const lines = [...seen.values()].map((p) => `  [${p.state}] ${p.check}: ${p.details}  {${[...new Set(p.scenarios)].join('; ')}}`);
    console.error(`\n=== Browser suite: ${seen.size} distinct problem(s) ===\n${lines.join('\n')}\n`);
  }
});

/** Runs one scenario with its own server, device and browser context. */
function scenario(name, opts, body) {
  test(name, { timeout: 120_000 }, async () => {
    const server = await DevServer.start();
    const device = new Device(server);
    const walk = await new Walk(browser, server, { name, ...opts }).open();
    let failure = null;
    try {
      scenarios += 1;
      await body({ w: walk, server, device, email: `person${scenarios}@example.org` });
    } catch (e) {
      failure = e;
    } finally {
      await walk.finish();
      await server.stop();
      device.cleanup();
    }
    if (failure) walk.problem(`after ${walk.lastState}`, 'FLOW STOPPED', failure.message);
    allProblems.push(...walk.problems.map((p) => ({ scenario: name, ...p })));
    if (walk.problems.length) {
      throw new Error(`${walk.problems.length} problem(s) in "${name}" (server data and log kept in ${server.dataDir}):\n${formatProblems(walk.problems)}`);
    }
    server.cleanup();
  });
}

// --- steps shared by the scenarios ----------------------------------------------------------

async function register(w, email) {
  const p = w.page;
  await w.goto('/register');
  await w.check('register', { screen: '01-register' });
  await p.getByLabel(/^e-mail/i).fill(email);
  await p.getByLabel(/^password(?!\s*again)/i).fill(PASSWORD);
  await p.getByLabel(/^password again/i).fill(PASSWORD);
  await w.click(p.getByRole('button', { name: /create account/i }));
  await w.waitForText(/check your e-mail/i, 'after sending the registration form');
  await w.check('register-mail-sent');
  const link = await w.server.registrationLink(email);
  await p.goto(link);
  await w.waitForText(/finish creating your account/i, 'the mailed registration link');
  await w.check('register-finish');
  await w.click(p.getByRole('button', { name: /create my account/i }));
  await w.waitForPath(/^\/account$/, 'after "Create my account"');
  await w.check('account-new');
}

async function signOut(w) {
  await w.click(w.page.getByRole('button', { name: /sign out/i }));
  await w.waitForPath(/^\/login$/, 'after "Sign out"');
}

async function fillSignIn(w, email) {
  const p = w.page;
  if (new URL(p.url()).pathname !== '/login') await w.goto('/login');
  await p.getByLabel(/^e-mail/i).fill(email);
  await p.getByLabel(/^password/i).fill(PASSWORD);
  await w.click(p.getByRole('button', { name: /^sign in$/i }));
  await p.waitForLoadState();
}

/** Signs in with a device enrolled: the "Approve on your device" page; returns its number. */
async function signInToApprove(w, email, { state = 'approve', screen } = {}) {
  await fillSignIn(w, email);
  await w.waitForPath(/^\/login\/approve$/, 'after signing in with a device enrolled');
  await w.check(state, { screen });
  await expectLiveStatus(w, state);
  return readNumber(w);
}

/** My account's text above "Security events" (the device list; the events may say "locked"). */
async function deviceListText(w) {
  return w.page.evaluate(() => {
    const main = document.querySelector('main');
    const text = main ? main.innerText : '';
    const at = text.search(/security events/i);
    return (at < 0 ? text : text.slice(0, at)).replace(/\s+/g, ' ').trim();
  });
}

function escapeRe(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function readNumber(w) {
  const text = await w.page.locator('main .code, main [aria-label*="number" i]').first().innerText();
  const number = text.match(/\d{2,6}/)?.[0];
  if (!number) throw new Error(`no number to type on the approve page; it says: ${await w.mainText()}`);
  return number;
}

/** The waiting/result status must be announced: inside role=status / aria-live. */
async function expectLiveStatus(w, state) {
  const found = await w.page.evaluate(() => {
    const s = document.querySelector('#status, main .status');
    if (!s) return 'none';
    return s.closest('[role="status"], [role="alert"], [aria-live]') ? 'ok' : 'missing';
  });
  w.expect(found === 'ok', 'live status region', found === 'none'
    ? 'no status element (#status) found'
    : 'the "Waiting for your device…" status is not in a live region (role="status" or aria-live): screen readers miss its changes', state);
}

async function approveOnDevice(device, number, pin) {
  const r = await device.approve(number, pin);
  if (r.code !== 0 || !/approved/i.test(r.stdout)) {
    throw new Error(`the device did not approve with number ${number}: exit ${r.code}\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`);
  }
  return r;
}

/** A browser without JavaScript: the page must refresh itself (<noscript> meta refresh). */
async function waitWithoutJs(w, pathRe, textRe, what, timeout = 15_000) {
  const p = w.page;
  try {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      if (pathRe.test(new URL(p.url()).pathname)) return;
      if (textRe && await w.seesText(textRe)) return;
      await p.waitForTimeout(250);
    }
  } catch { /* fall through */ }
  throw new Error(`${what}: without JavaScript the page did not move on by itself within ${timeout} ms (meta refresh); on ${new URL(p.url()).pathname}: ${await w.mainText()}`);
}

/**
 * Register, sign in (a new account goes straight to My account), add a device: a weak PIN is
 * refused, then the QR page, whose screenshot the CLI enrols from; the device is then listed.
 */
async function enrolledAccount(w, device, email, name = 'Test laptop') {
  const p = w.page;
  await register(w, email);
  await signOut(w);
  await w.check('login', { screen: '02-login' });
  await fillSignIn(w, email);
  await w.waitForPath(/^\/account$/, 'signing in to an account without a device (password only)');
  await w.check('account-no-device');

  await w.click(p.getByRole('link', { name: /add a device/i }));
  await w.waitForPath(/^\/devices\/add$/, '"Add a device"');
  await w.check('add-device', { screen: '05-add-device' });
  await p.getByLabel(/device name/i).fill(name);
  await p.getByLabel(/^PIN(?!\s*again)/i).fill(WEAK_PIN);
  await p.getByLabel(/^PIN again/i).fill(WEAK_PIN);
  await w.click(p.getByRole('button', { name: /continue/i }));
  const refusal = p.getByRole('alert').filter({ hasText: /PIN/ });
  try {
    await refusal.waitFor({ timeout: 10_000 });
  } catch {
    throw new Error(`the weak PIN ${WEAK_PIN} was not refused with a visible message (role=alert); on ${new URL(p.url()).pathname}: ${await w.mainText()}`);
  }
  await w.check('add-device-weak-pin');
  await p.getByLabel(/device name/i).fill(name);
  await p.getByLabel(/^PIN(?!\s*again)/i).fill(PIN);
  await p.getByLabel(/^PIN again/i).fill(PIN);
  await w.click(p.getByRole('button', { name: /continue/i }));
  await w.waitForPath(/^\/devices\/add\/[^/]+$/, 'after choosing a good PIN (the QR page)');
  await w.check('qr', { screen: '06-qr' });
  await expectLiveStatus(w, 'qr');

  // The code as a person sees it on screen: the SVG (or image) itself, with its quiet zone.
  const qr = p.locator('main .qr svg, main .qr img, main figure svg').first();
  const png = await qr.screenshot();
  const enrolled = await device.enrolQr(png, PIN);
  if (!/success/i.test(enrolled.stdout)) throw new Error(`enrol did not say Success: ${enrolled.stdout}`);
  if (w.js) {
    await w.waitForTextOrPath(/enrolled/i, /^\/account$/, 'the QR page after the device enrolled (live status)');
    await w.waitForPath(/^\/account$/, 'the QR page moving on to My account', 10_000);
  } else {
    await waitWithoutJs(w, /^\/account$/, /enrolled|already used/i, 'the QR page after the device enrolled');
    if (new URL(p.url()).pathname !== '/account') {
      await w.check('qr-done-nojs');
      await w.goto('/account');
    }
  }
  await w.check('account', { screen: '04-account' });
  await w.waitForText(new RegExp(escapeRe(name)), 'My account listing the new device');
  return name;
}

/** Removes the (only) device on My account, through whatever confirmation the site asks for. */
async function removeDevice(w, name) {
  const p = w.page;
  const seen = w.server.outboxNames();
  const removes = () => p.getByRole('main').getByRole('button', { name: /remove/i })
    .or(p.getByRole('main').getByRole('link', { name: /remove/i }));
  const nameRe = new RegExp(`remove.*${escapeRe(name)}|${escapeRe(name)}.*remove`, 'i');
  const named = () => p.getByRole('main').getByRole('button', { name: nameRe })
    .or(p.getByRole('main').getByRole('link', { name: nameRe }));
  const clickRemove = async () => {
    if (await removes().count() === 0) throw new Error(`My account shows no Remove control; it says: ${await w.mainText()}`);
    const good = await named().count() > 0;
    w.expect(good, 'Remove control names the device',
      `no Remove button/link whose accessible name includes "${name}" (screen-reader users hear only "Remove")`, 'account');
    await w.click((good ? named() : removes()).first());
    await p.waitForLoadState();
  };
  await clickRemove();
  let confirmPage = false;
  let mailedCode = false;
  let clicks = 1;
  for (let step = 0; step < 8; step++) {
    const where = new URL(p.url()).pathname;
    const codeInput = p.getByRole('main').getByLabel(/code/i);
    if (where === '/account') {
      if (await removes().count() === 0) {
        w.expect(confirmPage, 'remove confirmation',
          'the device was removed at once: no confirmation page naming the device before removal', 'account-after-remove');
        return;
      }
      if (clicks >= 2) throw new Error(`My account still lists the device after confirming its removal: ${await w.mainText()}`);
      // Confirming who you are (mailed code) brings you back here: press Remove again.
      await clickRemove();
      clicks += 1;
      continue;
    }
    if (await codeInput.count() > 0) {
      await w.check('remove-mailed-code');
      const code = await w.server.mailedCode('confirmation code', /one-time code|code/i, { seen });
      await codeInput.first().fill(code);
      await w.click(p.getByRole('button', { name: /continue|confirm/i }).first());
      await p.waitForLoadState();
      mailedCode = true;
      continue;
    }
    const mailMe = p.getByRole('main').getByRole('button', { name: /e-mail me a code|send a new code/i });
    if (!mailedCode && await mailMe.count() > 0 && await w.seesText(/confirm/i)) {
      await w.check('remove-confirm-identity');
      await w.click(mailMe.first());
      await p.waitForLoadState();
      continue;
    }
    const confirm = p.getByRole('main').getByRole('button', { name: /remove/i });
    if (await confirm.count() > 0) {
      confirmPage = true;
      await w.check('remove-confirm', { screen: '09-remove-confirm' });
      w.expect(await w.seesText(new RegExp(escapeRe(name))), 'remove confirmation names the device',
        `the confirmation page does not say which device ("${name}") will be removed`);
      await w.click(confirm.first());
      await p.waitForLoadState();
      continue;
    }
    throw new Error(`unexpected page while removing the device (${where}): ${await w.mainText()}`);
  }
  throw new Error('removing the device did not end on My account');
}

// --- scenarios ------------------------------------------------------------------------------

for (const viewport of ['desktop', 'phone']) {
  scenario(`main walk (${viewport === 'phone' ? 'phone 390x844' : 'desktop 1280x800'})`,
    { viewport, screens: true }, async ({ w, device, email }) => {
      const name = await enrolledAccount(w, device, email);
      await signOut(w);
      const number = await signInToApprove(w, email, { screen: '03-approve' });
      await approveOnDevice(device, number, PIN);
      await w.waitForTextOrPath(/approved/i, /^\/account$/, 'the approve page after approval on the device (live)');
      await w.waitForPath(/^\/account$/, 'the approve page moving on to My account');
      await w.check('account-signed-in');
      await w.waitForText(new RegExp(escapeRe(name)), 'My account after signing in');
      await removeDevice(w, name);
      await w.check('account-after-remove');
      await w.waitForText(/no device|add one/i, 'My account after removing its only device');
    });
}

scenario('cancel and start again', {}, async ({ w, device, email }) => {
  await enrolledAccount(w, device, email);
  await signOut(w);
  const first = await signInToApprove(w, email);
  await w.click(w.page.getByRole('button', { name: /cancel and start again/i }));
  await w.waitForPath(/^\/login$/, 'after "Cancel and start again"');
  await w.check('login-after-cancel');
  const second = await signInToApprove(w, email, { state: 'approve-again' });
  // The device must get the new request: its number is accepted.
  const r = await device.approve(second, PIN);
  if (r.code !== 0) {
    throw new Error(`the device did not approve the new request (number ${second}, the cancelled one had ${first}): exit ${r.code}\n${r.stdout.trim()}\n${r.stderr.trim()}`);
  }
  await w.waitForPath(/^\/account$/, 'the approve page moving on to My account');
  await w.check('account-after-restart');
  // The cancelled request is gone for the device too.
  const late = await device.run(['wait', '--timeout', '2'], { input: [first, PIN] });
  if (late.code === 0 || /sign-in request for/i.test(late.stdout)) {
    throw new Error(`the cancelled sign-in request is still offered to the device:\n${late.stdout.trim()}\n${late.stderr.trim()}`);
  }
  if (!/no sign-in request/i.test(late.stderr)) {
    throw new Error(`"latchkey wait" after the restart failed unexpectedly: ${late.stderr.trim()}`);
  }
});

scenario('deny, then "this wasn\'t me"', {}, async ({ w, device, email }) => {
  const p = w.page;
  await enrolledAccount(w, device, email);
  await signOut(w);
  await signInToApprove(w, email);
  await device.deny();
  await w.waitForText(/denied/i, 'the approve page after a denial on the device (live)');
  await w.check('approve-denied');
  await p.reload();
  await w.waitForText(/denied|not completed/i, 'the approve page reloaded after a denial');
  await w.check('signin-not-completed');
  await w.click(p.getByRole('main').getByRole('link', { name: /sign in/i }));
  await w.waitForPath(/^\/login$/, '"Sign in again"');
  await signInToApprove(w, email, { state: 'approve-2' });
  await device.deny({ notMe: true });
  await w.waitForText(/reported|wasn.t me/i, 'the approve page after "this wasn\'t me" (live)');
  await w.check('approve-reported');
  await w.goto('/login');
  await fillSignIn(w, email);
  await w.waitForText(/paused/i, 'signing in right after a "this wasn\'t me" report');
  await w.check('login-paused');
});

scenario('wrong PINs, locked, forgot PIN', { screens: ['07-approve-wrong-pin', '08-locked'] }, async ({ w, server, device, email }) => {
  const p = w.page;
  const name = await enrolledAccount(w, device, email);
  await signOut(w);
  const number = await signInToApprove(w, email);

  /** Whether the page shows `re`: live first, then after a reload (recorded as a problem). */
  const pageShows = async (re, what, live) => {
    if (await w.seesText(re, live)) return true;
    if (w.js && new URL(p.url()).pathname === '/login/approve') {
      await p.reload();
      if (await w.seesText(re, 1000)) {
        w.problem(w.lastState, `${what} not live`, `shown only after a reload: with JavaScript on, the waiting page did not update itself (${re})`);
        return true;
      }
    }
    return false;
  };

  for (let attempt = 1; attempt < MAX_PIN_ATTEMPTS; attempt += 1) {
    const left = MAX_PIN_ATTEMPTS - attempt;
    const r = await device.approve(number, WRONG_PIN);
    if (r.code === 0 || !/wrong PIN/i.test(r.stderr)) {
      throw new Error(`wrong PIN ${attempt}: the CLI did not report a wrong PIN: exit ${r.code}\n${r.stdout.trim()}\n${r.stderr.trim()}`);
    }
    const state = attempt === 2 ? 'approve-wrong-pin-2' : `approve-wrong-pin-${attempt}`;
    // The server calls a PIN wrong once no approval followed its evaluation for 8 s (or another
    // evaluation followed it): the first notice takes up to ~9 s, later ones are immediate.
    const shown = await pageShows(/wrong PIN/i, 'wrong-PIN notice', attempt === 1 ? 12000 : 1500);
    await w.check(state, attempt === 2 ? { screen: '07-approve-wrong-pin' } : {});
    if (!w.expect(shown, 'wrong-PIN notice', `after wrong PIN ${attempt} the approve page does not say that a wrong PIN was entered (/wrong PIN/i); it says: ${await w.mainText()}`)) continue;
    const leftRe = new RegExp(`\\b${left}\\b[^.]*\\b(attempts?|tries|try)\\b|\\b(attempts?|tries)\\b[^.]*\\b${left}\\b`, 'i');
    w.expect(await w.seesText(leftRe), 'attempts left',
      `after wrong PIN ${attempt} the approve page does not say that ${left} attempt(s) are left; it says: ${await w.mainText()}`);
  }
  const last = await device.approve(number, WRONG_PIN);
  if (last.code === 0 || !/locked/i.test(last.stderr)) {
    throw new Error(`wrong PIN ${MAX_PIN_ATTEMPTS}: the CLI did not report the device locked: exit ${last.code}\n${last.stdout.trim()}\n${last.stderr.trim()}`);
  }
  const locked = await pageShows(/locked/i, 'locked notice', 4000);
  await w.check('locked', { screen: '08-locked' });
  if (w.expect(locked, 'locked notice', `after ${MAX_PIN_ATTEMPTS} wrong PINs the page does not say the device is locked (/locked/i); it says: ${await w.mainText()}`)) {
    // The sentence that says "locked" must also say what to do (the page's own "e-mail me a
    // code" button does not count).
    const guidance = p.locator('main :is(p, li, dd, h1, h2, [role="status"], [role="alert"])')
      .filter({ hasText: /locked/i }).filter({ hasText: /forgot PIN|e-?mail|code/i });
    w.expect(await guidance.count() > 0, 'locked guidance',
      `the locked notice does not say what to do ("Forgot PIN" in the app, or a code by e-mail); it says: ${await w.mainText()}`);
  }

  // No device can approve now: sign in with a code sent by e-mail.
  const seen = server.outboxNames();
  const noDevice = p.getByRole('main').getByRole('button', { name: /can.t use my device|e-mail me a code/i });
  if (new URL(p.url()).pathname === '/login/approve' && await noDevice.count() > 0) {
    await w.click(noDevice.first());
  }
  if (new URL(p.url()).pathname !== '/login/code' && !(await p.getByRole('main').getByLabel(/code/i).count())) {
    await w.goto('/login');
    await fillSignIn(w, email);
  }
  const codeInput = p.getByRole('main').getByLabel(/code/i);
  try {
    await codeInput.first().waitFor({ timeout: 10_000 });
  } catch {
    throw new Error(`no page asking for the e-mailed code with the device locked; on ${new URL(p.url()).pathname}: ${await w.mainText()}`);
  }
  await w.check('login-code');
  await codeInput.first().fill(await server.mailedCode('sign-in code', /one-time code/i, { seen }));
  await w.click(p.getByRole('button', { name: /continue/i }));
  await w.waitForPath(/^\/account$/, 'signing in with the e-mailed code');
  await w.check('account-device-locked');
  w.expect(/locked/i.test(await deviceListText(w)), 'locked device shown', `My account does not show the device as locked: ${await deviceListText(w)}`);

  // Forgot PIN in the app: password, mailed code, new PIN; then approving works again.
  const forgot = await device.forgotPin(PASSWORD, NEW_PIN);
  if (!/new PIN (is )?set/i.test(forgot.stdout)) throw new Error(`pin forgot did not finish: ${forgot.stdout}\n${forgot.stderr}`);
  await signOut(w);
  const again = await signInToApprove(w, email, { state: 'approve-after-reset' });
  await approveOnDevice(device, again, NEW_PIN);
  await w.waitForPath(/^\/account$/, 'approving with the new PIN');
  await w.check('account-after-reset');
  await w.waitForText(new RegExp(escapeRe(name)), 'My account after the PIN reset');
  w.expect(!/locked/i.test(await deviceListText(w)), 'device unlocked', `My account still shows the device as locked after the PIN reset: ${await deviceListText(w)}`);
});

scenario('JavaScript disabled', { js: false }, async ({ w, device, email }) => {
  await enrolledAccount(w, device, email);
  await signOut(w);
  const number = await signInToApprove(w, email);
  await approveOnDevice(device, number, PIN);
  await waitWithoutJs(w, /^\/account$/, null, 'the approve page after approval on the device');
  await w.check('account-signed-in');
});
