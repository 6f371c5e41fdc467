/**
 * The console in a real browser (Debian's Chromium, headless, driven by playwright-core)
 * against the whole service: sign in; a simulated call (fake Twilio caller with real speech,
 * strict fake model) shows on the live page while it runs and its transcript grows; after it
 * ends its page shows the turns, tool calls and the booking; the booking is in the calendar;
 * cancelling it from the console frees the slot for the agent; the quality charts draw data;
 * pages fit a phone screen; nothing personal appears in a requested URL.
 *
 * Screenshots: tests/output/console/*.png (git-ignored).
 */
import assert from "node:assert/strict";
import { bookingResponder, TRANSCRIPTS } from "../../scripts/sim/receptionist.ts";
import { nextOpenDate, speech, startHarness, waitUntil, withSilence } from "../support/harness.ts";
import { DEFAULT_BUSINESS_FILE } from "../../src/booking/business.ts";
import { CHROMIUM_AVAILABLE, launchBrowser } from "./browser.ts";
import { CONSOLE_PASSWORD } from "./client.ts";

Deno.test({
  name: "console in Chromium: live call, call page, calendar, cancel frees the slot, charts",
  ignore: !CHROMIUM_AVAILABLE,
  async fn() {
    // The example salon with room for one appointment at a time, so a cancelled booking
    // visibly frees its slot.
    const dir = await Deno.makeTempDir({ prefix: "console-browser-" });
    const businessFile = `${dir}/business.json`;
    const profileJson = JSON.parse(await Deno.readTextFile(DEFAULT_BUSINESS_FILE));
    await Deno.writeTextFile(businessFile, JSON.stringify({ ...profileJson, capacity: 1 }));
    const h = await startHarness({
      env: {
        AUDIO_FORMAT: "pcmu",
        VAD_SILENCE_MS: "900",
        SMS_FROM: "+15553334444",
        CONSOLE_PASSWORD,
        BUSINESS_FILE: businessFile,
      },
      rest: true,
      fake: { transcripts: TRANSCRIPTS },
    });
    const b = await launchBrowser();
    const shots: string[] = [];
    try {
      const base = h.app.baseUrl;
      const { page } = b;
      const date = nextOpenDate(h.app.profile);
      h.fake.setResponder(bookingResponder(date));

      // Sign in.
      await page.goto(`${base}/console`);
      assert.match(page.url(), /\/console\/login$/);
      shots.push(await b.screenshot("login"));
      await page.fill("#password", "wrong password!");
      await page.click("button[type=submit]");
      await page.waitForSelector("text=Wrong password.");
      assert.deepEqual(b.problems.splice(0), [`HTTP 401 POST ${base}/console/login`]);
      await page.fill("#password", CONSOLE_PASSWORD);
      await page.click("button[type=submit]");
      await page.waitForURL(/\/console$/);
      await page.waitForSelector(".days");

      // Live: the call appears while it runs, and its transcript grows.
      await page.goto(`${base}/console#/live`);
      await page.waitForSelector("text=No calls in progress.");
      const caller = await h.dial({ audio: withSilence(2500, speech("caller_book_haircut")) });
      const card = `.live-call[data-sid="${caller.callSid}"]`;
      await page.waitForSelector(card);
      assert.equal(await page.textContent(`${card} strong`), "+15550001111");
      await page.waitForSelector(`${card} .transcript li.agent`);
      const early = await page.$$eval(`${card} .transcript li`, (lis) => lis.length);
      await waitUntil(
        () => h.fake.sessions[0]?.items.some((i) => i.text?.startsWith("I have")) ?? false,
        20_000,
        "the slot offer",
      );
      await page.waitForSelector(`${card} .transcript li.caller >> text=book a haircut`);
      await page.waitForSelector(`${card} .transcript li.agent >> text=I have`);
      const later = await page.$$eval(`${card} .transcript li`, (lis) => lis.length);
      assert.ok(later > early, `transcript grew from ${early} to ${later} lines`);
      assert.match(
        (await page.textContent(`${card} .state`))!,
        /agent speaking|caller speaking|running a tool|listening/,
      );
      shots.push(await b.screenshot("live"));

      // The caller accepts; the agent books; the caller hangs up.
      await waitUntil(() => caller.agentAudioMsPlayed >= 2700, 10_000, "the offer played");
      caller.sendAudio(withSilence(300, speech("caller_two_thirty")));
      let bookings = await h.app.store.findByPhone("+15550001111");
      await waitUntil(
        async () => {
          bookings = await h.app.store.findByPhone("+15550001111");
          return bookings.length > 0;
        },
        20_000,
        "the booking",
      );
      await waitUntil(
        () => h.fake.sessions[0].items.some((i) => i.text?.startsWith("You're booked")),
        10_000,
        "the confirmation",
      );
      await waitUntil(() => caller.agentAudioMsPlayed >= 3600, 10_000, "audio played");
      await caller.hangUp();
      await h.finalRecord(caller.callSid);
      const [booking] = bookings;
      await page.waitForSelector("text=No calls in progress.");

      // The call page: turns, tool calls with arguments and results, the booking, the SMS.
      await page.goto(`${base}/console#/calls`);
      await page.click(`tr[data-sid="${caller.callSid}"] a`);
      await page.waitForSelector("ol.timeline");
      const timeline = (await page.textContent("ol.timeline"))!;
      assert.match(timeline, /Caller\s*Hi, I'd like to book a haircut/);
      assert.match(timeline, /Agent\s*I have .* Does that work\?/);
      assert.match(timeline, /Caller\s*Two thirty works/);
      assert.match(timeline, /Agent\s*You're booked/);
      assert.match(timeline, /get_slots \(\d+ ms\)/);
      assert.match(timeline, /book_slot \(\d+ ms\)/);
      await page.click(".ev.tool >> nth=1 >> summary");
      const bookTool = (await page.textContent(".ev.tool >> nth=1"))!;
      assert.match(bookTool, /"customer_name": "Sam Rivera"/);
      assert.match(bookTool, /"status": "confirmed"/);
      assert.match(bookTool, new RegExp(`"booking_id": "${booking.id}"`));
      assert.match(
        (await page.textContent(`.call-bookings li[data-id="${booking.id}"]`))!,
        /Men's cut .*\$40\.00 · Sam Rivera/,
      );
      assert.match((await page.textContent("main"))!, /SMS sent.*to \+15550001111/s);
      assert.match((await page.textContent(".kpis"))!, /Outcomebooked/);
      shots.push(await b.screenshot("call"));

      // The calendar shows it on its day, in the business's time zone, with price and phone.
      await page.goto(`${base}/console#/calendar`);
      await page.waitForSelector(".days");
      await page.fill("input.goto", date);
      await page.dispatchEvent("input.goto", "change");
      const item = `li.booking[data-id="${booking.id}"]`;
      await page.waitForSelector(item);
      const text = (await page.textContent(item))!;
      assert.match(text, /Men's cut/);
      assert.match(text, /\$40\.00/);
      assert.match(text, /Sam Rivera/);
      assert.match(text, /\+15550001111/);
      const time = new Intl.DateTimeFormat("en-US", {
        timeZone: "America/New_York",
        hour: "numeric",
        minute: "2-digit",
      }).format(new Date(booking.start));
      assert.ok(text.startsWith(time), `${text} starts at ${time} New York time`);
      assert.equal(
        await page.getAttribute(`${item} .meta a`, "href"),
        `#/call/${caller.callSid}`,
      );
      await page.click("button:text('Week')");
      await page.waitForSelector(`.days.week ${item}`);
      shots.push(await b.screenshot("calendar_week"));
      await page.click("button:text('Day')");
      await page.waitForSelector(`.days.day ${item}`);

      // With capacity 1 the slot is taken; cancelling from the console frees it for the agent.
      const freeStarts = async () => {
        const r = await h.app.store.listFreeSlots({ serviceId: "mens-cut", date });
        return r.ok ? r.slots.map((s) => s.start) : [];
      };
      assert.ok(!(await freeStarts()).includes(booking.start), "taken before the cancel");
      await page.click(`${item} button.danger`);
      await page.click(`${item} button.confirm-cancel`);
      await page.waitForSelector(`.notice >> text=Cancelled ${booking.id}.`);
      await page.waitForSelector(`li.booking.cancelled[data-id="${booking.id}"]`);
      assert.equal((await h.app.store.getBooking(booking.id))?.status, "cancelled");
      assert.ok((await freeStarts()).includes(booking.start), "free again for the agent");
      shots.push(await b.screenshot("calendar_cancelled"));

      // Quality charts draw the call.
      await page.goto(`${base}/console#/quality`);
      await page.waitForSelector("figure.chart canvas");
      // (Page code as strings: the tests are type-checked without the DOM library.)
      const charts = await page.evaluate(
        `[...document.querySelectorAll("figure.chart")].map((f) => {
        const rect = f.querySelector("canvas").getBoundingClientRect();
        return { id: f.dataset.chart, points: Number(f.dataset.points), width: rect.width,
          height: rect.height };
      })`,
      ) as { id: string; points: number; width: number; height: number }[];
      assert.deepEqual(charts.map((c) => c.id), [
        "calls",
        "conversion",
        "latency",
        "bargeins",
        "model",
        "tools",
      ]);
      for (const c of charts) {
        assert.ok(c.width >= 250 && c.height >= 100, JSON.stringify(c));
        assert.equal(c.points, 24 * 7, "hourly buckets over 7 days");
      }
      // The calls chart has a drawn bar (its colour is on the canvas) and the totals count it.
      const barPixels = await page.evaluate(`(() => {
        const canvas = document.querySelector('figure.chart[data-chart="calls"] canvas');
        const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 0; i < data.length; i += 4) {
          // #2b6cb0 blended at 60 % over white, or the stroke itself.
          if (data[i + 2] > 150 && data[i] < 150 && data[i + 1] < 190 && data[i + 3] > 0) n++;
        }
        return n;
      })()`) as number;
      assert.ok(barPixels > 20, `${barPixels} bar pixels`);
      assert.match((await page.textContent(".kpis"))!, /Calls1Booked1 \(100 %\)/);
      shots.push(await b.screenshot("quality"));

      // Business profile, with its path and a reload.
      await page.goto(`${base}/console#/profile`);
      await page.waitForSelector("code.path");
      assert.equal(await page.textContent("code.path"), businessFile);
      await page.click("button.reload");
      await page.waitForSelector(".notice >> text=Reloaded");
      shots.push(await b.screenshot("profile"));

      // A phone screen: no sideways scrolling on the calendar and the call page.
      await page.setViewportSize({ width: 390, height: 844 });
      for (
        const [route, ready, name] of [
          ["#/calendar", ".days", "phone_calendar"],
          [`#/call/${caller.callSid}`, "ol.timeline", "phone_call"],
          ["#/quality", "figure.chart canvas", "phone_quality"],
        ]
      ) {
        await page.goto(`${base}/console${route}`);
        await page.waitForSelector(ready);
        const overflow = await page.evaluate(
          "document.documentElement.scrollWidth - window.innerWidth",
        ) as number;
        assert.ok(overflow <= 1, `${route}: ${overflow}px wider than the phone`);
        shots.push(await b.screenshot(name));
      }

      // Nothing personal travelled in a URL, and the page had no errors (CSP included).
      for (const url of b.requests) {
        assert.doesNotMatch(url, /5550001111|Sam|Rivera/, url);
        assert.ok(!url.includes(caller.callSid), url);
        assert.ok(!url.includes(booking.id), url);
      }
      assert.deepEqual(b.problems, []);

      // Sign out: the console is closed again.
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.click(".signout button");
      await page.waitForURL(/\/console\/login$/);
      await page.goto(`${base}/console#/calls`);
      assert.match(page.url(), /\/console\/login(#.*)?$/); // browsers keep the fragment
      assert.equal(await page.$("ol.timeline, .days, table.calls"), null);
      console.log(`console screenshots:\n  ${shots.join("\n  ")}`);
    } finally {
      await b.close();
      await h.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
