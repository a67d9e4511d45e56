// Passkeys in a real browser (issue #15): Debian's Chromium, headless, driven by playwright-core
// (no browser download: the system /usr/bin/chromium), with a CDP virtual authenticator
// (WebAuthn.addVirtualAuthenticator: CTAP2, internal, resident keys, user verification).
//
// 1. Sign in with email and password on /login.
// 2. /account/mfa: "Add a passkey" (name + current password); the page's passkey.js runs
//    navigator.credentials.create(); the recovery codes appear. Exactly one resident credential
//    is then in the authenticator. Screenshots: the codes, then the page listing the passkey.
// 3. Sign out (the form on /account), then sign in with the passkey alone, twice: through the
//    conditional (autofill) request the sign-in page starts on load, which the virtual
//    authenticator answers by itself, and through "Sign in with a passkey" (conditional
//    mediation hidden from the page). No email, no password: /login/passkey/finish must answer
//    200, the browser land on /account showing the email, and the authenticator's signature
//    counter must have moved (it signed).
//
// Usage: node passkey_browser.mjs <base URL, http://localhost:PORT> <email> <password> [screenshot dir]
// Prints one JSON line; exits 1 on any failure.
import { request as playwrightRequest } from "playwright-core";
import { TIMEOUT, check, finish, launch, run } from "./browser_run.mjs";

const [base, email, password, shotDir = "."] = process.argv.slice(2);
if (!base || !email || !password) {
  console.error("usage: node passkey_browser.mjs <base URL> <email> <password> [screenshot dir]");
  process.exit(2);
}
const { result, step, shot } = run(shotDir);

async function credentials(cdp, authenticatorId) {
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  return credentials;
}

let browser;
try {
  browser = await launch(result);
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));

  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  step("virtual authenticator");

  // 1. Password sign-in through the form.
  await page.goto(`${base}/login`);
  await page.fill("#email", email);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(`${base}/account`), page.click('form[action="/login"] button[type="submit"]')]);
  check((await page.textContent("main, body")).includes(email), "the account page shows the email after the password");
  step("password sign-in");

  // 2. Register a passkey on the account's two-step page.
  await page.goto(`${base}/account/mfa`);
  await page.waitForSelector("#passkey-register", { state: "visible" });
  check((await credentials(cdp, authenticatorId)).length === 0, "the authenticator starts empty");
  await page.fill("#passkey-name", "Chromium");
  await page.fill("#passkey-password", password);
  const registered = page.waitForResponse((r) => r.url().endsWith("/account/passkeys/register/finish"));
  await page.click('#passkey-register button[type="submit"]');
  const finish = await registered;
  check(finish.status() === 201, `register/finish answered ${finish.status()}`);
  await page.waitForSelector("#passkey-codes", { state: "visible" });
  result.recovery_codes = await page.locator("#passkey-codes-list li").count();
  check(result.recovery_codes === 10, `${result.recovery_codes} recovery codes shown`);
  await shot(page, "passkey-registered-codes.png");
  const creds = await credentials(cdp, authenticatorId);
  result.credentials = creds.length;
  check(creds.length === 1, `${creds.length} credentials in the authenticator`);
  check(creds[0].isResidentCredential === true, "the credential is resident (discoverable)");
  check(creds[0].rpId === new URL(base).hostname, `the credential's RP id is ${creds[0].rpId}`);
  const countAfterRegistration = creds[0].signCount;
  await page.goto(`${base}/account/mfa`);
  const listed = await page.locator("ul.passkeys li strong").allTextContents();
  check(listed.length === 1 && listed[0] === "Chromium", `the page lists ${JSON.stringify(listed)}`);
  await shot(page, "passkey-account-listed.png");
  step("passkey registered");

  // 3. Sign out; then the passkey alone signs in, twice. Signing out lands on /login, whose
  // script starts a conditional (autofill) request at once; the virtual authenticator, which
  // needs no user gesture, answers it: the first sign-in is that one. Then, with conditional
  // mediation reported unavailable, the "Sign in with a passkey" button (a modal request).
  const finishes = [];
  page.on("response", (r) => {
    if (r.url().endsWith("/login/passkey/finish")) finishes.push(r.status());
  });
  page.on("request", (r) => {
    if (r.method() === "POST" && new URL(r.url()).pathname === "/login") result.password_posted_again = true;
  });
  let signCount = countAfterRegistration;
  result.sign_ins = [];
  for (const via of ["conditional", "button"]) {
    if (via === "button") {
      await context.addInitScript(() => {
        if (window.PublicKeyCredential) PublicKeyCredential.isConditionalMediationAvailable = async () => false;
      });
    }
    const before = finishes.length;
    await page.goto(`${base}/account`);
    const session = (await context.cookies(base)).filter((c) => c.name.endsWith("gatehouse_session"));
    check(session.length > 0, "a session cookie before signing out");
    await Promise.all([page.waitForURL(/\/login\?/), page.click('form[action="/logout"] button[type="submit"]')]);
    // The old session is dead on the server. Asked with the old cookie in a separate client:
    // the page may already be signing in again through the conditional request.
    const probe = await playwrightRequest.newContext({
      extraHTTPHeaders: { cookie: session.map((c) => `${c.name}=${c.value}`).join("; ") },
    });
    const out = await probe.get(`${base}/account`, { maxRedirects: 0 });
    await probe.dispose();
    check(out.status() === 303, `/account answered ${out.status()} to the old cookie after signing out`);
    let used = via;
    if (via === "conditional") {
      // Answered by the authenticator alone; should it not be, the button still proves the passkey
      // (it aborts the conditional request; one that was already answered may then finish too).
      const landed = await page.waitForURL(`${base}/account`, { timeout: 30_000 }).then(
        () => true,
        () => false,
      );
      if (!landed) {
        used = "button (conditional request not answered)";
        await Promise.all([page.waitForURL(`${base}/account`), page.click("#passkey-sign-in-button")]);
      }
    } else {
      await page.waitForSelector("#passkey-sign-in-button", { state: "visible" });
      check(new URL(page.url()).pathname === "/login", "still on the sign-in page before the click");
      await shot(page, "passkey-sign-in-page.png");
      await Promise.all([page.waitForURL(`${base}/account`), page.click("#passkey-sign-in-button")]);
    }
    await page.waitForSelector("h1");
    const newFinishes = finishes.slice(before);
    const expected = used === via ? newFinishes.length === 1 : newFinishes.length >= 1;
    check(expected && newFinishes.every((s) => s === 200), `/login/passkey/finish answered ${JSON.stringify(newFinishes)}`);
    check(!result.password_posted_again, "no password was posted after the first sign-in");
    check((await page.textContent("body")).includes(email), `the account page shows the email after the passkey (${via})`);
    const now = await credentials(cdp, authenticatorId);
    check(now.length === 1 && now[0].signCount > signCount, `the passkey signed (its counter moved) (${via})`);
    result.sign_ins.push({ via: used, sign_count: now[0].signCount });
    signCount = now[0].signCount;
    await shot(page, `passkey-signed-in-account-${via}.png`);
  }
  result.passkey_finishes = finishes.length;
  result.signed_in_email = email;
  step("passkey sign-in");

  check(pageErrors.length === 0, `page errors: ${pageErrors.join("; ")}`);
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
} finally {
  await finish(browser, result);
}
