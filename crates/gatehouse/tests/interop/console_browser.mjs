// The admin console in a real browser (issue #16): Debian's Chromium, headless, driven by
// playwright-core (the system /usr/bin/chromium, no browser download). Fields are found by
// their labels and buttons by their names (getByLabel / getByRole), so the run also checks that
// every field it uses has a label. Every page is checked for console errors and CSP violations
// (any is a failure), for form fields without a label, and at phone width (360 px) for content
// wider than the screen.
//
// Journeys: sign in as the admin; create a client and read its secret; edit its redirect URI;
// rotate its secret (the old one is checked by the Rust side, inside the window and after it);
// disable a user (whose session the Rust side sees die); edit the policy with a syntax error and
// see it shown at its line; try a decision; visit roles, audit log and keys.
//
// Usage: node console_browser.mjs <base URL> <admin email> <password> <user email> <admin user id> [screenshot dir]
// Prints one JSON line; exits 1 on any failure.
import { TIMEOUT, check, finish, launch, run } from "./browser_run.mjs";

const [base, adminEmail, password, userEmail, adminId, shotDir = "."] = process.argv.slice(2);
if (!base || !adminEmail || !password || !userEmail || !adminId) {
  console.error("usage: node console_browser.mjs <base URL> <admin email> <password> <user email> <admin user id> [screenshot dir]");
  process.exit(2);
}
const { result, step, shot } = run(shotDir, { problems: [], admin_id: adminId });

// Every visible form field has a label (its own <label>, aria-label or aria-labelledby).
async function unlabelled(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea")]
      .filter((el) => el.type !== "hidden" && el.offsetParent !== null)
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby"))
      .map((el) => el.name || el.id || el.outerHTML.slice(0, 80)),
  );
}

// A page as an operator meets it: loaded, labelled, and (at phone width) nothing wider than the screen.
async function visit(page, path, shotName) {
  const resp = await page.goto(`${base}${path}`);
  check(resp && resp.status() === 200, `${path} answered ${resp && resp.status()}`);
  const missing = await unlabelled(page);
  if (missing.length) result.problems.push(`${path}: fields without a label: ${missing.join(", ")}`);
  if (shotName) await shot(page, shotName);
  return resp;
}

let browser;
try {
  browser = await launch(result);
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  context.setDefaultTimeout(TIMEOUT);
  // CSP violations, as the page itself sees them.
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // A refused form answers its page with a 4xx status (422, 409), which Chromium reports as a
    // failed load of the document itself: expected, not a problem. Anything else is.
    const at = m.location() && m.location().url;
    if (m.text().startsWith("Failed to load resource") && at === page.url() && / 4(09|22) /.test(m.text())) return;
    result.problems.push(`console error on ${page.url()} (${at}): ${m.text()}`);
  });
  page.on("pageerror", (e) => result.problems.push(`page error on ${page.url()}: ${e}`));

  // Sign in: the console sends us to the sign-in page and back.
  await page.goto(`${base}/admin/`);
  check(new URL(page.url()).pathname === "/login", `not sent to sign in: ${page.url()}`);
  await page.getByLabel("Email").fill(adminEmail);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await Promise.all([page.waitForURL(`${base}/admin/`), page.getByRole("button", { name: "Sign in", exact: true }).click()]);
  await visit(page, "/admin/", "console-dashboard.png");
  step("signed in");


  // Clients: register one, read its secret (the copy button copies it), edit its redirect URIs
  // (a bad one is refused with the input kept), rotate the secret with an hour of overlap.
  await visit(page, "/admin/clients", "console-clients.png");
  await page.getByRole("link", { name: "Register a client" }).click();
  await page.waitForURL(`${base}/admin/clients/new`);
  await page.getByLabel("Name").fill("Journey app <b>");
  await page.getByLabel(/client_credentials/).check();
  await page.getByLabel(/authorization_code/).check();
  await page.getByLabel(/Redirect URIs/).fill("https://app.example.com/callback");
  await page.getByRole("button", { name: "Register" }).click();
  await page.waitForSelector("#client-secret");
  result.client_id = (await page.textContent("#client-id")).trim();
  result.old_secret = (await page.textContent("#client-secret")).trim();
  check(result.old_secret.length >= 32, "a secret is shown once");
  check((await page.textContent("h1")).includes("Journey app <b>"), "the name is shown as text");
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const copy = page.locator('button[data-copy="client-secret"]');
  await copy.click();
  await page.waitForFunction(() => document.querySelector('button[data-copy="client-secret"]').textContent === "Copied");
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  check(copied === result.old_secret, "the copy button copies the secret");
  await shot(page, "console-client-secret.png");
  step("client registered");

  await visit(page, `/admin/clients/${result.client_id}`);
  await page.getByLabel(/Redirect URIs/).fill("http://evil.example.com/callback");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForSelector("#form-error");
  check((await page.inputValue("#redirect_uris")) === "http://evil.example.com/callback", "the refused input is kept");
  await shot(page, "console-client-edit-refused.png");
  await page.getByLabel(/Redirect URIs/).fill("https://app.example.com/callback\nhttps://app.example.com/other");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForSelector(".notice");
  check((await page.inputValue("#redirect_uris")).includes("https://app.example.com/other"), "the new redirect URI is saved");
  step("client edited");

  await page.getByLabel("The old secret keeps working for").selectOption("3600");
  await page.getByRole("button", { name: "Issue a new secret" }).click();
  await page.waitForSelector("#client-secret");
  result.new_secret = (await page.textContent("#client-secret")).trim();
  check(result.new_secret !== result.old_secret && result.new_secret.length >= 32, "a new secret");
  await shot(page, "console-client-rotated.png");
  await visit(page, `/admin/clients/${result.client_id}`, "console-client.png");
  check(!(await page.content()).includes(result.new_secret), "the client's page never shows the secret");
  step("secret rotated");

  // Users: a user signed in in another browser; the admin finds and disables them; their next
  // page load is the sign-in page.
  const userContext = await browser.newContext({ viewport: { width: 900, height: 700 } });
  userContext.setDefaultTimeout(TIMEOUT);
  const userPage = await userContext.newPage();
  await userPage.goto(`${base}/login`);
  await userPage.getByLabel("Email").fill(userEmail);
  await userPage.getByLabel("Password", { exact: true }).fill(password);
  await Promise.all([userPage.waitForURL(`${base}/account`), userPage.getByRole("button", { name: "Sign in", exact: true }).click()]);
  await visit(page, "/admin/users");
  await page.getByLabel("Email address contains").fill(userEmail.split("@")[0]);
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("link", { name: userEmail }).click();
  await page.waitForSelector("h1");
  result.user_page = new URL(page.url()).pathname;
  await shot(page, "console-user.png");
  await page.getByRole("button", { name: /^Disable/ }).click();
  await page.waitForSelector(".notice");
  await shot(page, "console-user-disabled.png");
  await userPage.goto(`${base}/account`);
  check(new URL(userPage.url()).pathname === "/login", `the disabled user's session still opens ${userPage.url()}`);
  await userContext.close();
  step("user disabled");

  // Policies: a syntax error is shown at its line and nothing is saved; then the decision is
  // tried against the corrected draft.
  await visit(page, "/admin/policies");
  await page.getByLabel(/^Name/).fill("journey");
  await page.getByLabel("Cedar text").fill('// who may share\npermit(principal, action == Gatehouse::Action::"share", resource)\n  when { resource.owner == };');
  await page.getByRole("button", { name: "Save as a new version" }).click();
  await page.waitForSelector("#policy-errors-title");
  const marked = await page.locator("li.has-error .line-no").allTextContents();
  check(marked.length > 0 && marked.every((n) => n === "3"), `errors marked at lines ${JSON.stringify(marked)}`);
  await shot(page, "console-policy-error.png");
  await page.getByLabel("Cedar text").fill('permit(principal, action == Gatehouse::Action::"share", resource);');
  await page.getByLabel(/^Subject id/).fill(adminId);
  await page.getByLabel("Action", { exact: true }).fill("share");
  await page.getByLabel("Resource type").fill("doc");
  await page.getByLabel("Resource id").fill("1");
  await page.getByRole("button", { name: "Try the decision" }).click();
  await page.waitForSelector("#decision-title");
  result.decision = (await page.textContent("#decision-title")).trim();
  check(result.decision === "Decision: allow", result.decision);
  await shot(page, "console-policy-try.png");
  step("policy tried");

  // The other areas, for the record; and the pages at phone width.
  await visit(page, "/admin/roles", "console-roles.png");
  await visit(page, "/admin/audit", "console-audit.png");
  await visit(page, "/admin/keys", "console-keys.png");
  await page.setViewportSize({ width: 360, height: 740 });
  for (const path of ["/admin/", "/admin/users", result.user_page, "/admin/clients", `/admin/clients/${result.client_id}`, "/admin/roles", "/admin/policies", "/admin/audit", "/admin/keys"]) {
    await visit(page, path);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    if (wide > 360) result.problems.push(`${path} is ${wide} px wide at a 360 px screen`);
  }
  await visit(page, "/admin/users", "console-users-phone.png");
  step("phone width");

  // Keyboard: the menu is reached by Tab, in order, and Enter follows a link.
  await visit(page, "/admin/");
  const focused = [];
  for (let i = 0; i < 12 && focused.length < 7; i++) {
    await page.keyboard.press("Tab");
    const f = await page.evaluate(() => (document.activeElement.closest(".console-nav a") ? document.activeElement.textContent : null));
    if (f) focused.push(f);
  }
  check(focused.join(",") === "Dashboard,Users,Clients,Roles,Policies,Audit log,Keys", `Tab order ${focused}`);
  await Promise.all([page.waitForURL(`${base}/admin/keys`), page.keyboard.press("Enter")]);
  step("keyboard");

  check(result.problems.length === 0, `problems: ${result.problems.join("; ")}`);
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
} finally {
  await finish(browser, result);
}
