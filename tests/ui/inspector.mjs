// Drives the /ui inspector in headless Chromium: connect with the operator
// token, read the users table, open a user's history, watch a request arrive
// in the live feed. Screenshots go to OUT_DIR.
//
//   node tests/ui/inspector.mjs BASE_URL SCIM_KEY OPERATOR_TOKEN OUT_DIR
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, key, operator, outDir] = process.argv.slice(2);
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
mkdirSync(outDir, { recursive: true });

async function scim(method, path, body, userAgent = "curl/8.5.0") {
  const response = await fetch(`${base}/scim/v2${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/scim+json", "User-Agent": userAgent },
    body: body && JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

const ada = await scim("POST", "/Users", { userName: "ada@example.com", name: { givenName: "Ada", familyName: "Lovelace" }, title: "CTO" });
await scim("PATCH", `/Users/${ada.id}`, { Operations: [{ op: "replace", value: { active: false, title: "Former CTO" } }] }, "Okta SCIM Client 1.0");

const browser = await chromium.launch({ executablePath: browserPath, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${base}/ui`);
  await page.locator("#status", { hasText: "operator token" }).waitFor();

  await page.fill("#token", operator);
  await page.click("#login button");
  const row = page.locator(`#users tbody tr[data-user="${ada.id}"]`);
  await row.waitFor();
  const cells = await row.locator("td").allTextContents();
  expect(JSON.stringify(cells) === JSON.stringify([ada.id, "ada@example.com", "Ada Lovelace", "Former CTO", "no_access", "no"]), `users row: ${cells}`);
  await page.screenshot({ path: `${outDir}/users.png` });

  await row.click();
  const patch = page.locator("#history li", { hasText: `PATCH /scim/v2/Users/${ada.id}` });
  await patch.waitFor();
  const change = await patch.locator(".change").innerText();
  expect(change.includes("title: CTO → Former CTO"), `history change: ${change}`);
  expect(change.includes("role: user → no_access"), `role transition: ${change}`);
  expect((await patch.innerText()).includes("Okta"), "the client is named");
  expect((await page.locator("#history li").count()) === 2, "the create and the patch");

  await page.locator("#feed-state", { hasText: "live" }).waitFor();
  await scim("POST", "/Users", { userName: "live@example.com" }, "Microsoft.Identity.Provisioning");
  const live = page.locator("#feed li").first();
  await live.locator("text=POST /scim/v2/Users").waitFor();
  const liveText = await live.innerText();
  expect(liveText.includes("Entra ID") && liveText.includes("created with role user"), `live entry: ${liveText}`);
  await page.locator("#users tbody tr", { hasText: "live@example.com" }).waitFor();
  await page.screenshot({ path: `${outDir}/inspector.png`, fullPage: true });

  expect(errors.length === 0, `page errors: ${errors.join("; ")}`);
  console.log(JSON.stringify({ ok: true, screenshots: ["users.png", "inspector.png"] }));
} finally {
  await browser.close();
}
