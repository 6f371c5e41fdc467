/**
 * Flagged calls in a real browser (Debian's Chromium via playwright-core): the calls list
 * highlights the call whose agent promised what the records do not show, the "flagged"
 * filter finds it, and its page opens with the warning, the summary, the claims (the
 * mismatch first, with what the records say) and the recording's fate.
 *
 * Screenshots: tests/output/console/after_call_*.png (git-ignored).
 */
import assert from "node:assert/strict";
import type { CallRecord } from "../../src/call/record.ts";
import type { Page } from "playwright-core";
import { CHROMIUM_AVAILABLE, launchBrowser } from "./browser.ts";
import { CONSOLE_PASSWORD } from "./client.ts";
import { startConsoleServer } from "./server.ts";

/** A Chromium test against a fresh console server; both are closed afterwards. */
function browserTest(
  name: string,
  fn: (
    c: Awaited<ReturnType<typeof startConsoleServer>>,
    b: Awaited<ReturnType<typeof launchBrowser>>,
  ) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: !CHROMIUM_AVAILABLE,
    async fn() {
      const c = await startConsoleServer();
      const b = await launchBrowser();
      try {
        await fn(c, b);
      } finally {
        await b.close();
        await c.close();
      }
    },
  });
}

/** Signs in to the console at `base` with the test password. */
async function signIn(page: Page, base: string): Promise<void> {
  await page.goto(`${base}/console`);
  await page.fill("#password", CONSOLE_PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/console$/);
}

function record(callSid: string, startedAt: string, extra: Record<string, unknown>): CallRecord {
  return {
    callSid,
    from: "+15550001111",
    to: "+15559990000",
    startedAt,
    endedAt: new Date(Date.parse(startedAt) + 95_000).toISOString(),
    outcome: "booked",
    transcript: [{ role: "agent", text: "You're booked for 3 PM.", at: startedAt }],
    toolCalls: [],
    latency: {},
    bargeIns: [],
    extra,
  };
}

browserTest(
  "console in Chromium: a flagged call is highlighted in the list and on its page",
  async (c, b) => {
    const day = new Date().toISOString().slice(0, 10);
    await c.store.saveCall(record("CAfine", `${day}T14:00:00.000Z`, {
      flagged: false,
      summary: {
        status: "ok",
        text: "A question about prices.",
        intent: "prices",
        outcome: "answered",
      },
    }));
    await c.store.saveCall(record("CAflag", `${day}T15:00:00.000Z`, {
      flagged: true,
      summary: {
        status: "ok",
        text: "Sam booked a men's cut.",
        intent: "book a men's cut",
        outcome: "booked",
        followUp: { needed: true, reason: "the agent said 3 PM, the booking is at 2 PM" },
      },
      promises: {
        checked: [
          {
            kind: "live_booking",
            status: "verified",
            source: "live",
            claim: { quote: "You're booked." },
            truth: "Men's cut on 2026-03-03 at 14:00",
            at: `${day}T15:01:00.000Z`,
          },
          {
            kind: "booking",
            status: "mismatch",
            source: "summary",
            claim: { type: "booking", service: "Men's cut", date: "2026-03-03", time: "15:00" },
            truth: "this call's confirmed bookings: Men's cut on 2026-03-03 at 14:00",
          },
        ],
        verified: 1,
        mismatches: 1,
        unverifiable: 0,
      },
      recording: { path: "/var/lib/voice-agent/recordings/CAflag.wav", durationMs: 95_000 },
    }));
    const { page } = b;
    await signIn(page, c.base);

    await page.goto(`${c.base}/console#/calls`);
    await page.waitForSelector("table.calls");
    assert.ok(await page.$('tr.flagged[data-sid="CAflag"]'), "the flagged call is highlighted");
    assert.equal(await page.$('tr.flagged[data-sid="CAfine"]'), null);
    assert.match((await page.textContent('tr[data-sid="CAflag"]'))!, /⚑ mismatch/);
    // (Page code as strings: the tests are type-checked without the DOM library.)
    const color = await page.evaluate(
      `getComputedStyle(document.querySelector('tr[data-sid="CAflag"] td')).backgroundColor`,
    );
    assert.notEqual(color, "rgba(0, 0, 0, 0)", "a highlighted row has a background");
    await b.screenshot("after_call_list");

    await page.check('input[name="flagged"]');
    await page.click("form.filters button[type=submit]");
    for (let i = 0; (await page.$$("table.calls tbody tr")).length !== 1; i++) {
      if (i > 200) throw new Error("the flagged filter did not apply");
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(await page.$('tr[data-sid="CAflag"]'));

    await page.click('tr[data-sid="CAflag"] a');
    await page.waitForSelector("p.flag");
    assert.match((await page.textContent("p.flag"))!, /Flagged: the agent told the caller/);
    const claims = await page.$$eval(".claims .claim", (els) => els.map((e) => e.textContent));
    assert.equal(claims.length, 2);
    assert.match(
      claims[0]!,
      /mismatch.*booking: Men's cut · 2026-03-03 · 15:00.*Records: .*14:00/s,
    );
    assert.match(claims[1]!, /verified.*said live/s);
    const main = (await page.textContent("main"))!;
    assert.match(main, /Sam booked a men's cut\./);
    assert.match(main, /Follow up: the agent said 3 PM, the booking is at 2 PM/);
    assert.match(main, /CAflag\.wav · 1:35/);
    await b.screenshot("after_call_page", { fullPage: true });

    await page.goto(`${c.base}/console#/call/CAfine`);
    await page.waitForSelector("text=A question about prices.");
    assert.equal(await page.$("p.flag"), null, "an unflagged call has no warning");
    assert.deepEqual(b.problems, []);
  },
);

browserTest(
  "console in Chromium: a page's late answer never replaces the page opened after it",
  async (c, b) => {
    const day = new Date().toISOString().slice(0, 10);
    await c.store.saveCall(record("CAlate", `${day}T14:00:00.000Z`, { flagged: false }));
    const { page } = b;
    // The calendar (the first page after sign-in) answers slowly, as on a loaded server.
    let calendarAnswered!: () => void;
    const calendarDone = new Promise<void>((resolve) => (calendarAnswered = resolve));
    await page.route("**/console/api/calendar", async (route) => {
      await new Promise((r) => setTimeout(r, 1500));
      await route.continue();
      calendarAnswered();
    });
    await signIn(page, c.base);
    // The operator opens the calls list before the calendar has come.
    await page.goto(`${c.base}/console#/calls`);
    await page.waitForSelector("table.calls");
    await calendarDone;
    await new Promise((r) => setTimeout(r, 300)); // the calendar's answer is handled
    assert.ok(await page.$("table.calls"), "the calls list is still shown");
    assert.equal(await page.$(".days"), null, "the calendar did not replace it");
    assert.deepEqual(b.problems, []);
  },
);
