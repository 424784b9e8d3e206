// The admin console's main journey, in a real headless Chromium, by visible labels only.
//
// Env: ROSTER_BASE_URL (the running server), ROSTER_MAIL_DIR (its `--mail file:DIR`),
// ROSTER_SCREENSHOTS (where PNGs go), ROSTER_TEST_CHROMIUM (else `chromium` on PATH);
// ROSTER_OIDC_ISSUER, ROSTER_OIDC_CLIENT_ID, ROSTER_OIDC_CLIENT_SECRET: a running
// e2e/oidc-provider.mjs whose one client has the redirect URI `<ROSTER_BASE_URL>/sso/callback`
// and whose accounts are `sam` (sam@sso-acme.example, verified, "Sam Single") and
// `unverified` (una@sso-acme.example, email_verified false).
// ROSTER_E2E_KEEP_GOING=1 runs the later steps after a failed one (to see how far the
// pages are); the exit status is still 1.
//
// The server must have been set up with
//   roster setup --org-name Acme --org-kind provider --admin-email admin@acme.example
// so that the setup invitation to admin@acme.example is in the mail folder.

import {
  a11yCheck,
  capture,
  check,
  emailLink,
  env,
  launch,
  newContext,
  screenshot,
  seenEmails,
  stayOn,
  step,
  waitForEmail,
} from './lib.mjs';
import { readFileSync } from 'node:fs';

const BASE = env('ROSTER_BASE_URL').replace(/\/$/, '');
const MAIL = env('ROSTER_MAIL_DIR');
env('ROSTER_SCREENSHOTS');
const KEEP_GOING = process.env.ROSTER_E2E_KEEP_GOING === '1';
const OIDC_ISSUER = env('ROSTER_OIDC_ISSUER').replace(/\/$/, '');
const OIDC_CLIENT_ID = env('ROSTER_OIDC_CLIENT_ID');
const OIDC_CLIENT_SECRET = env('ROSTER_OIDC_CLIENT_SECRET');

const ADMIN = 'admin@acme.example';
const ADMIN_PASSWORD = 'Violet-harbor-lantern-42';
const JANE = 'jane@acme.example';
const JANE_PASSWORD = 'Copper-meadow-orbit-77';
const ORG_PATH = /\/orgs\/acme\/?(\?.*)?$/;
// Single sign-on: the domain Acme's connection claims, and the provider's accounts.
const SSO_DOMAIN = 'sso-acme.example';
const SAM = `sam@${SSO_DOMAIN}`;
const UNVERIFIED = `una@${SSO_DOMAIN}`;

// ---------------------------------------------------------------------------------------
// Locators, by what a person sees

const exact = { exact: true };
const h1 = (page, name) => page.getByRole('heading', { name, exact: true, level: 1 });
/** A name that starts with `text` as a whole word: "Jane Doe" matches the heading "Jane Doe
 * Active" (a status badge inside it) and "Globex Retail" the checkbox "Globex Retail (GR-1)". */
const startingWith = (text) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`);
const memberH1 = (page, name) => page.getByRole('heading', { name: startingWith(name), level: 1 });
const sidebar = (page) => page.getByRole('navigation', { name: 'Console' });
const main = (page) => page.getByRole('main');
const button = (scope, name) => scope.getByRole('button', { name, exact: true });
const link = (scope, name) => scope.getByRole('link', { name, exact: true });
/** A control that may be a link (with a no-JS fallback page) or a button. */
const control = (scope, name) => link(scope, name).or(button(scope, name)).first();
const row = (scope, text) => scope.getByRole('row').filter({ hasText: text });
const notice = (page, text) => page.getByRole('status').filter({ hasText: text });

async function visible(locator, timeout) {
  await locator.waitFor({ state: 'visible', timeout });
}

async function hidden(locator, timeout) {
  await locator.waitFor({ state: 'hidden', timeout });
}

async function loaded(page) {
  await page.waitForLoadState('load');
}

/** Opens the sidebar's `name` link and waits for the page's heading. */
async function openFromSidebar(page, name, heading = name) {
  await link(sidebar(page), name).click();
  await loaded(page);
  await visible(h1(page, heading));
}

/** The "…" menu of a member (`<details>` whose summary is labelled "More actions"). */
async function moreActions(page, item) {
  await page.getByLabel('More actions', exact).click();
  await control(page, item).click();
}

/** The single badge (status) on a member page. */
async function badge(page, text) {
  await visible(main(page).getByText(text, exact).first());
}

/** Opens the newest invitation email to `to` and waits for its page. */
async function acceptInvitation(page, to) {
  const email = await waitForEmail(MAIL, to, { subject: 'Join' });
  const url = emailLink(email, '/invitations/', BASE);
  await page.goto(url);
  await visible(h1(page, 'Join Acme team'));
  return url;
}

async function choosePassword(page, password) {
  await page.getByLabel('Password', exact).fill(password);
  await page.getByLabel('Confirm password', exact).fill(password);
  await button(page, 'Confirm').click();
  await page.waitForURL(ORG_PATH);
  await visible(h1(page, 'Acme'));
}

/** The seconds a disabled "Send a reset link (Ns)" button shows. */
async function countdown(page) {
  const b = page.getByRole('button', { name: /^Send a reset link \(\d+s\)$/ });
  await visible(b);
  const label = (await b.innerText()).trim();
  const seconds = Number(/\((\d+)s\)/.exec(label)[1]);
  check(await b.isDisabled(), `the button "${label}" is not disabled`);
  return seconds;
}

/**
 * In a fresh context: the sign-in page with `email` and no password, then the provider's
 * login page (screenshot `providerShot` when given) signed in as `login` with any
 * password. Returns the page, back at Roster (wherever the provider's answer led), and
 * adds it to `pages` (the step's, for its failure screenshots) as soon as it opens. A
 * Content-Security-Policy message on the way fails with what Chromium said.
 */
async function signInThroughProvider(browser, pages, who, email, login, providerShot) {
  const context = await newContext(browser);
  // The provider's development page imports a web font from the internet: stay local.
  await stayOn(context, [BASE, OIDC_ISSUER]);
  const page = await context.newPage();
  pages.push(page);
  watch(page, who);
  const csp = [];
  page.on('console', (m) => {
    if (/Content Security Policy|form-action/i.test(m.text())) csp.push(`${m.type()}: ${m.text()}`);
  });
  const cspSaid = () => (csp.length ? `; Chromium said:\n  ${csp.join('\n  ')}` : '');
  await page.goto(`${BASE}/sign-in`);
  await visible(h1(page, 'Sign in'));
  await page.getByLabel('Email', exact).fill(email);
  await page.getByLabel('Password', exact).fill('');
  await button(page, 'Sign in').click();
  try {
    await page.waitForURL((u) => u.href.startsWith(`${OIDC_ISSUER}/interaction/`));
  } catch (e) {
    throw new Error(
      `the sign-in form did not lead to the provider's login page (now on ${page.url()})${cspSaid()}\n` +
        e.message.split('\n')[0],
    );
  }
  check(!csp.length, `a Content-Security-Policy message on the way to the provider${cspSaid()}`);
  // The provider's own page (not ours: no labels, only placeholders): by name attribute.
  const loginField = page.locator('input[name="login"]');
  await visible(loginField);
  if (providerShot) await screenshot(page, providerShot);
  await loginField.fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  try {
    await page.waitForURL((u) => u.href.startsWith(`${BASE}/`));
  } catch (e) {
    throw new Error(`the provider did not send ${login} back to Roster (now on ${page.url()})${cspSaid()}\n${e.message.split('\n')[0]}`);
  }
  await loaded(page);
  check(!csp.length, `a Content-Security-Policy message on the way back from the provider${cspSaid()}`);
  return page;
}

// ---------------------------------------------------------------------------------------

const failures = [];
const browserErrors = [];

function watch(page, who) {
  page.on('pageerror', (e) => browserErrors.push(`${who}: ${page.url()}: ${e.message}`));
  page.on('console', (m) => {
    // Failed loads are reported below, with their URL.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      browserErrors.push(`${who}: ${page.url()}: console: ${m.text()}`);
    }
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) {
      browserErrors.push(`${who}: ${r.request().method()} ${r.url()}: ${r.status()}`);
    }
  });
}

async function run(name, pages, body) {
  try {
    await step(name, pages, body);
  } catch (e) {
    if (!KEEP_GOING) throw e;
    failures.push(e);
    console.log(`FAILED: ${name}`);
    console.error(e.message);
    // Start the next step with no dialog or menu left open, on the same page if it can.
    for (const page of (Array.isArray(pages) ? pages : [pages]).filter(Boolean)) {
      await page.reload().catch(() => {});
      if (page.url() === 'about:blank' || (await page.getByRole('dialog').isVisible().catch(() => true))) {
        await page.goto(`${BASE}/orgs/acme`).catch(() => {});
      }
    }
  }
}

const browser = await launch();
let exitCode = 0;
try {
  const adminContext = await newContext(browser);
  const admin = await adminContext.newPage();
  watch(admin, 'admin');
  let jane;
  let janeContext;

  await run('1 admin accepts the setup invitation', admin, async () => {
    await acceptInvitation(admin, ADMIN);
    await capture(admin, 'invitation');
    await choosePassword(admin, ADMIN_PASSWORD);
    await capture(admin, 'overview');
  });

  await run('2 sign out and sign in', admin, async () => {
    await button(admin, 'Sign out').click();
    await admin.waitForURL(/\/sign-in/);
    await visible(h1(admin, 'Sign in'));
    await capture(admin, 'sign-in');
    await admin.getByLabel('Email', exact).fill(ADMIN);
    await admin.getByLabel('Password', exact).fill(ADMIN_PASSWORD);
    await button(admin, 'Sign in').click();
    await loaded(admin);
    // The console, or a page listing the person's organizations to open.
    if (!(await sidebar(admin).isVisible())) {
      await link(main(admin), 'Acme').click();
    }
    await admin.waitForURL(ORG_PATH);
    await visible(h1(admin, 'Acme'));
    await a11yCheck(admin, 'after sign-in');
  });

  await run('3 customers', admin, async () => {
    await link(sidebar(admin), 'Customers').click();
    await loaded(admin);
    for (const [name, id] of [
      ['Globex Retail', 'GR-1'],
      ['Initech', 'IN-1'],
    ]) {
      await admin.getByLabel('Name', exact).fill(name);
      await admin.getByLabel('External id', exact).fill(id);
      await button(admin, 'Add customer').click();
      await loaded(admin);
      await visible(main(admin).getByText(name, exact).first());
    }
    await capture(admin, 'settings-customers');
  });

  await run('4 users and invite', admin, async () => {
    await openFromSidebar(admin, 'Users');
    await visible(row(main(admin), ADMIN).getByText('Active', exact));
    await capture(admin, 'users');

    await control(main(admin), 'Invite user').click();
    let dialog = admin.getByRole('dialog');
    await visible(dialog);
    await dialog.getByLabel('Email', exact).fill(JANE);
    await dialog.getByLabel('Name', exact).fill('Jane Doe');
    await dialog.getByRole('group', { name: 'Roles' }).getByRole('checkbox', { name: 'User', exact: true }).check();
    await dialog
      .getByRole('group', { name: 'Customers' })
      .getByRole('checkbox', { name: startingWith('Globex Retail') })
      .check();
    await capture(admin, 'invite-dialog');
    await button(dialog, 'Send invitation').click();
    await loaded(admin);
    await visible(notice(admin, `Invitation sent to ${JANE}.`));
    await visible(row(main(admin), JANE).getByText('Invite pending', exact));
    await a11yCheck(admin, 'after the invitation');

    // A refusal of the server (inviting someone who is already a member) is shown in a
    // sentence inside the dialog, and adds no row. (A malformed address never leaves the
    // browser: the Email field's own validation stops it.)
    const rows = await main(admin).getByRole('row').count();
    await control(main(admin), 'Invite user').click();
    dialog = admin.getByRole('dialog');
    await visible(dialog);
    const email = dialog.getByLabel('Email', exact);
    await email.fill(ADMIN);
    await dialog.getByLabel('Name', exact).fill('Admin Again');
    await dialog.getByRole('group', { name: 'Roles' }).getByRole('checkbox', { name: 'User', exact: true }).check();
    await button(dialog, 'Send invitation').click();
    const alert = admin.getByRole('alert');
    try {
      await visible(alert);
    } catch (e) {
      const blocked = await email.evaluate((el) => el.validity && !el.validity.valid).catch(() => false);
      if (blocked) {
        throw new Error(
          'no alert: the browser\'s own validation stopped the form (type="email" without novalidate?); ' +
            'the contract expects the server to answer with an alert',
        );
      }
      throw e;
    }
    const sentence = (await alert.innerText()).trim();
    check(/\w+ \w+ \w+.*[.!]/s.test(sentence), `the alert is not a sentence: "${sentence}"`);
    await screenshot(admin, 'invite-error');
    await a11yCheck(admin, 'invitation refused');
    if (await admin.getByRole('dialog').isVisible()) await admin.keyboard.press('Escape');
    await hidden(admin.getByRole('dialog'));
    check((await main(admin).getByText('Admin Again').count()) === 0, 'a row for "Admin Again" was added');
    const after = await main(admin).getByRole('row').count();
    check(after <= rows, `the table had ${rows} rows and now has ${after}`);
  });

  await run('5 jane accepts her invitation', admin, async () => {
    janeContext = await newContext(browser);
    jane = await janeContext.newPage();
    watch(jane, 'jane');
    await acceptInvitation(jane, JANE);
    await choosePassword(jane, JANE_PASSWORD);
  });

  await run('6 member page and password reset', [admin, jane], async () => {
    await openFromSidebar(admin, 'Users');
    await link(main(admin), 'Jane Doe').click();
    await loaded(admin);
    await visible(memberH1(admin, 'Jane Doe'));
    await badge(admin, 'Active');
    await capture(admin, 'member');
    const tabs = ['Groups and Roles', 'Permissions', 'Customers', 'Password', 'Sign-in attempts', 'Notifications'];
    for (const tab of tabs) {
      await link(main(admin), tab).click();
      await loaded(admin);
      await visible(memberH1(admin, 'Jane Doe'));
      const slug = tab.toLowerCase().replace(/[^a-z0-9]+/g, '-');
      if (tab === 'Customers') {
        const box = main(admin).getByRole('checkbox', { name: startingWith('Globex Retail') });
        check(await box.isChecked(), 'the checkbox "Globex Retail" is not checked');
      }
      if (tab === 'Password') {
        await capture(admin, 'member-password');
      } else {
        await capture(admin, `member-${slug}`);
      }
    }

    // The Password tab: a reset link, then a countdown that survives a reload.
    await link(main(admin), 'Password').click();
    await loaded(admin);
    const seen = seenEmails(MAIL, JANE);
    await button(main(admin), 'Send a reset link').click();
    await loaded(admin);
    await visible(notice(admin, `Reset link sent to ${JANE}.`));
    const before = await countdown(admin);
    const t0 = Date.now();
    check(before >= 28 && before <= 30, `right after sending the button shows ${before}s, not 28–30s`);
    await capture(admin, 'member-password-sent');
    await admin.waitForTimeout(1_600);
    await admin.reload();
    await loaded(admin);
    const after = await countdown(admin);
    const elapsed = Date.now() - t0;
    check(after >= 1 && after <= 30, `after a reload the button shows ${after}s`);
    check(
      after < before || elapsed < 1_000,
      `after ${elapsed} ms and a reload the countdown went from ${before}s to ${after}s`,
    );
    await waitForEmail(MAIL, JANE, { seen });
  });

  await run('7 deactivate', [admin, jane], async () => {
    check(ORG_PATH.test(jane.url()), `Jane is not on /orgs/acme but on ${jane.url()}`);
    await moreActions(admin, 'Deactivate');
    await loaded(admin);
    await badge(admin, 'Deactivated');
    await capture(admin, 'member-deactivated');
    // Jane belongs to no other organization, so her session no longer holds: her next
    // click lands on the sign-in page, and signing in again is refused with diagnostics.
    await link(sidebar(jane), 'Overview').click();
    await loaded(jane);
    await visible(h1(jane, 'Sign in'));
    await jane.getByLabel('Email', exact).fill(JANE);
    await jane.getByLabel('Password', exact).fill(JANE_PASSWORD);
    await button(jane, 'Sign in').click();
    await loaded(jane);
    const refusal = jane.getByRole('alert');
    await visible(refusal);
    const text = await refusal.innerText();
    check(/Reference/.test(text) && /Who can fix it/.test(text), `the refusal lacks its diagnostics: "${text}"`);
    await capture(jane, 'access-deactivated');
  });

  await run('8 activate', [admin, jane], async () => {
    await moreActions(admin, 'Activate');
    await loaded(admin);
    await badge(admin, 'Active');
    await jane.goto(`${BASE}/orgs/acme`);
    await visible(h1(jane, 'Acme'));
  });

  await run('9 delete', [admin, jane], async () => {
    await moreActions(admin, 'Delete');
    const dialog = admin.getByRole('dialog');
    await visible(dialog);
    await visible(dialog.getByText('Delete Jane Doe?'));
    await visible(control(dialog, 'Cancel')); // a link styled as a button works without JS
    await capture(admin, 'delete-dialog');
    await button(dialog, 'Delete user').click();
    await admin.waitForURL(/\/orgs\/acme\/users/);
    await visible(notice(admin, 'The user was removed.'));
    await visible(h1(admin, 'Users'));
    check((await row(main(admin), JANE).count()) === 0, 'Jane is still listed');
    await jane.reload();
    await loaded(jane);
    check(!(await h1(jane, 'Acme').isVisible()), 'Jane still sees the Acme console');
    await visible(h1(jane, 'Page not found').or(h1(jane, 'Sign in')));
    await capture(jane, 'removed');
  });

  await run('10 audit log', admin, async () => {
    await openFromSidebar(admin, 'Audit log');
    const actions = [
      'invitation.created',
      'invitation.accepted',
      'password_reset.requested',
      'membership.deactivated',
      'membership.activated',
      'membership.removed',
    ];
    const table = main(admin).getByRole('table');
    await visible(table);
    const text = await table.innerText();
    const missing = actions.filter((a) => !text.includes(a));
    check(!missing.length, `the audit log lacks ${missing.join(', ')}`);
    await capture(admin, 'audit');

    // The CSV export (of the whole log, before filtering).
    const exportLink = link(main(admin), 'Export CSV');
    let csv;
    try {
      const [download] = await Promise.all([admin.waitForEvent('download'), exportLink.click()]);
      csv = readFileSync(await download.path(), 'utf8');
    } catch (e) {
      console.log(`note: "Export CSV" did not download (${e.message.split('\n')[0]}); fetching it`);
      const href = await exportLink.getAttribute('href');
      const res = await adminContext.request.get(new URL(href, admin.url()).toString());
      check(res.ok(), `GET ${href}: ${res.status()}`);
      csv = await res.text();
      await admin.goto(`${BASE}/orgs/acme/audit`);
    }
    const header = csv.split(/\r?\n/)[0];
    check(
      header === 'time,actor,action,target_kind,target_id,details',
      `the CSV header is "${header}"`,
    );
    check(csv.includes('membership.removed'), 'the CSV lacks membership.removed');

    // Filtered by action.
    const field = admin.getByLabel('Action', exact);
    if ((await field.evaluate((el) => el.tagName)) === 'SELECT') {
      await field.selectOption('membership.deactivated');
      // A list whose filters apply as they change may have reloaded already.
      await admin.waitForURL(/membership\.deactivated/, { timeout: 2_000 }).catch(() => {});
      await loaded(admin);
    } else {
      await field.fill('membership.deactivated');
    }
    await button(main(admin), 'Filter').click();
    await loaded(admin);
    await visible(h1(admin, 'Audit log'));
    const rows = main(admin).getByRole('table').getByRole('row').filter({ has: admin.getByRole('cell') });
    const n = await rows.count();
    check(n >= 1, 'the filtered audit log shows no rows');
    for (let i = 0; i < n; i++) {
      const t = await rows.nth(i).innerText();
      check(t.includes('membership.deactivated'), `a filtered row is another action: ${t}`);
    }
    await capture(admin, 'audit-filtered');
  });

  await run('11 my profile', admin, async () => {
    await openFromSidebar(admin, 'My profile');
    await capture(admin, 'profile');
  });

  await run('12 settings pages', admin, async () => {
    for (const name of ['Settings', 'Roles', 'Groups', 'Entities', 'API tokens']) {
      await link(sidebar(admin), name).click();
      await loaded(admin);
      await visible(admin.getByRole('heading', { level: 1 }));
      await capture(admin, `settings-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`);
    }
  });

  await run('13 single sign-on', admin, async () => {
    // The connection, by the form's labels.
    await openFromSidebar(admin, 'Single sign-on');
    await admin.getByLabel('Issuer URL', exact).fill(OIDC_ISSUER);
    await admin.getByLabel('Client ID', exact).fill(OIDC_CLIENT_ID);
    await admin.getByLabel('Client secret', exact).fill(OIDC_CLIENT_SECRET);
    await admin.getByLabel('Email domains', exact).fill(SSO_DOMAIN);
    await admin.getByLabel('Default role for new members', exact).selectOption({ label: 'User' });
    const enforce = admin.getByRole('checkbox', { name: 'Require single sign-on for these domains', exact: true });
    check(!(await enforce.isChecked()), 'a new connection already requires single sign-on');
    await button(main(admin), 'Save').click();
    await loaded(admin);
    await visible(notice(admin, 'Single sign-on saved.'));
    check(
      (await admin.getByLabel('Issuer URL', exact).inputValue()) === OIDC_ISSUER,
      'the saved form does not show the issuer',
    );
    await button(main(admin), 'Test connection').click();
    await loaded(admin);
    await visible(notice(admin, `${OIDC_ISSUER} answered its discovery document`));
    await visible(control(main(admin), 'Remove connection'));
    await capture(admin, 'settings-sso');
  });

  const ssoPages = [admin];
  await run('14 sign-in through the provider', ssoPages, async () => {
    // Sam is no member yet: the provider vouches for the address, and the connection's
    // default role makes a member of them at this first sign-in.
    const sam = await signInThroughProvider(browser, ssoPages, 'sam', SAM, 'sam', 'sso-provider');
    // Back from the provider, on the organization's page.
    check(ORG_PATH.test(sam.url()), `single sign-on landed on ${sam.url()}, not /orgs/acme`);
    await visible(h1(sam, 'Acme'));
    await a11yCheck(sam, 'signed in through the provider');
    await sam.context().close();

    await openFromSidebar(admin, 'Users');
    const samRow = row(main(admin), 'Sam Single');
    await visible(samRow);
    await visible(samRow.getByRole('cell', { name: SAM, exact: true }));
    await visible(samRow.getByRole('cell', { name: 'User', exact: true }));
    await visible(samRow.getByText('Active', exact));

    // An address the provider has not verified is refused, with diagnostics.
    const una = await signInThroughProvider(browser, ssoPages, 'unverified', UNVERIFIED, 'unverified');
    await visible(h1(una, 'Sign-in did not complete'));
    const alert = una.getByRole('alert');
    await visible(alert);
    await visible(alert.getByText('sso_email_unverified', exact));
    const text = await alert.innerText();
    const reference = /Reference\s+(\S+)/.exec(text);
    check(reference && reference[1] !== '—', `the refusal shows no reference: "${text}"`);
    check(/Who can fix it/.test(text), `the refusal does not say who can fix it: "${text}"`);
    await capture(una, 'sso-error');
    await una.context().close();
    await admin.reload();
    await loaded(admin);
    check((await row(main(admin), UNVERIFIED).count()) === 0, `${UNVERIFIED} became a member`);
  });

  if (failures.length) {
    exitCode = 1;
    console.error(`\n${failures.length} step(s) failed: ${failures.map((f) => f.step).join('; ')}`);
  } else {
    console.log('journey passed');
  }
} catch (e) {
  exitCode = 1;
  console.error(e.message || e);
} finally {
  if (browserErrors.length) {
    console.log(`browser errors (for information):\n  ${browserErrors.join('\n  ')}`);
  }
  await browser.close().catch(() => {});
}
process.exit(exitCode);
