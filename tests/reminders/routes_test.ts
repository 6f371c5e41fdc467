/**
 * The reminder webhooks: Twilio's signature and this service's link signature are both
 * required; a synchronous machine verdict in the voice webhook gets the message; a stream
 * claiming to be a reminder call must be the call the reminder placed; STOP and START by
 * text change the opt-out.
 */
import assert from "node:assert/strict";
import { parseBusinessProfile } from "../../src/booking/business.ts";
import { ReminderLinks, SMS_PATH } from "../../src/reminders/links.ts";
import { postSignedForm, startMessage } from "../../src/sim/twilio_caller.ts";
import { signTwilioRequest } from "../../src/twilio/signature.ts";
import { ACCOUNT_SID, type Harness, PUBLIC_URL, startHarness } from "../support/harness.ts";
import { bookDaysAgo, customer, reminderEnv, reminderProfileFile } from "./support.ts";

async function withService(
  env: Record<string, string>,
  fn: (h: Harness, bookingId: string) => Promise<void>,
) {
  const file = await reminderProfileFile();
  const dir = await Deno.makeTempDir({ prefix: "reminder-routes-" });
  const databaseUrl = `sqlite:${dir}/agent.db`;
  // Not due for weeks: the worker leaves it alone.
  const [booking] = await bookDaysAgo(databaseUrl, parseBusinessProfile(file.profile), 1);
  const h = await startHarness({
    rest: true,
    env: {
      ...reminderEnv(file.path, { REMINDER_HOURS_BEFORE: "1" }),
      DATABASE_URL: databaseUrl,
      ...env,
    },
    overrides: { reminders: { tickMs: 100 } },
  });
  try {
    await fn(h, booking.id);
  } finally {
    await h.close();
    await file.remove();
    await Deno.remove(dir, { recursive: true });
  }
}

function statusParams(callSid: string) {
  return { AccountSid: ACCOUNT_SID, CallSid: callSid, CallStatus: "ringing" };
}

Deno.test("reminder routes: Twilio's signature and a link this service signed are both required", () =>
  withService({}, async (h, id) => {
    const links = h.app.reminders!.links;
    const good = new URL(
      await links.url("/twilio/reminders/status", { bookingId: id, attempt: 1 }),
    );
    const path = good.pathname + good.search;
    const ok = await postSignedForm(h.target, path, statusParams("CA1"));
    await ok.body?.cancel();
    assert.equal(ok.status, 204);

    // A link for another attempt, or signed with another key: refused although Twilio signed.
    const forged = path.replace("n=1", "n=2");
    const res1 = await postSignedForm(h.target, forged, statusParams("CA1"));
    await res1.body?.cancel();
    assert.equal(res1.status, 403);
    const foreign = await ReminderLinks.create("another-token", PUBLIC_URL);
    const f = new URL(await foreign.url("/twilio/reminders/status", { bookingId: id, attempt: 1 }));
    const res2 = await postSignedForm(h.target, f.pathname + f.search, statusParams("CA1"));
    await res2.body?.cancel();
    assert.equal(res2.status, 403);

    // Our link without Twilio's signature: refused.
    const res3 = await fetch(h.app.baseUrl + path, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(statusParams("CA1")),
    });
    await res3.body?.cancel();
    assert.equal(res3.status, 403);
  }));

Deno.test("reminder routes: a voice webhook with a machine verdict (synchronous detection) gets the message", () =>
  withService({}, async (h, id) => {
    const url = new URL(
      await h.app.reminders!.links.url("/twilio/reminders/voice", {
        bookingId: id,
        attempt: 1,
      }),
    );
    const params = {
      AccountSid: ACCOUNT_SID,
      CallSid: "CA" + "1".repeat(32),
      From: "+15550009999",
      To: customer(0),
      Direction: "outbound-api",
      CallStatus: "in-progress",
    };
    const machine = await postSignedForm(h.target, url.pathname + url.search, {
      ...params,
      AnsweredBy: "machine_end_silence",
    });
    const twiml = await machine.text();
    const booking = await h.app.store.getBooking(id);
    assert.match(twiml, /<Say language="en-US">Hello, this is Maple &amp; Main Hair Studio/);
    assert.ok(twiml.includes(booking!.label), twiml);
    assert.doesNotMatch(twiml, /<Stream/);

    const person = await postSignedForm(h.target, url.pathname + url.search, {
      ...params,
      AnsweredBy: "human",
    });
    const stream = await person.text();
    assert.match(stream, /<Stream url="wss:\/\/voice\.example\.com\/twilio\/media"/);
    assert.match(stream, new RegExp(`<Parameter name="reminder" value="${id}"/>`));
    assert.match(stream, /<Parameter name="from" value="\+12125551000"\/>/);
  }));

Deno.test("reminder routes: a stream only gets a reminder's prompt for the call that reminder placed", () =>
  withService({}, async (h, id) => {
    const reminders = h.app.reminders!;
    const sig = await reminders.links.sign({ bookingId: id, attempt: 1 });
    const start = (callSid: string, s = sig) =>
      startMessage({
        accountSid: ACCOUNT_SID,
        streamSid: "MZ1",
        callSid,
        customParameters: { reminder: id, attempt: "1", reminderSig: s },
      }).start;
    assert.equal(
      await reminders.purposeFor(
        startMessage({
          accountSid: ACCOUNT_SID,
          streamSid: "MZ1",
          callSid: "CA1",
          customParameters: {},
        }).start,
      ),
      undefined,
      "an ordinary call",
    );
    await assert.rejects(reminders.purposeFor(start("CA1", "AAAA")), /bad signature/);
    await assert.rejects(reminders.purposeFor(start("CA1")), /no reminder call CA1/);
    // Once attempt 1 was placed as CA7, that call (and only it) gets the purpose.
    await h.app.store.updateReminder(id, (r) => ({
      ...r,
      attempts: [{ n: 1, round: 1, channel: "call", startedMs: 0, owner: "x", callSid: "CA7" }],
    }));
    const purpose = await reminders.purposeFor(start("CA7"));
    assert.equal(purpose?.kind, "reminder");
    assert.equal(purpose?.customerNumber, customer(0));
    assert.match(purpose!.greeting, /remind Customer of the Men's cut appointment on /);
    assert.deepEqual(purpose!.tools.map((t) => t.name), ["confirm_booking", "opt_out"]);
    await assert.rejects(reminders.purposeFor(start("CA8")), /no reminder call CA8/);
  }));

Deno.test("reminder routes: STOP by text opts out, START opts back in (also with reminders off)", async () => {
  for (const env of [{}, { REMINDERS: "off" }] as Record<string, string>[]) {
    await withService(env, async (h) => {
      const text = async (body: string, signed = true) => {
        const params = {
          AccountSid: ACCOUNT_SID,
          From: customer(5),
          To: "+15550009999",
          Body: body,
        };
        const res = signed
          ? await postSignedForm(h.target, SMS_PATH, params)
          : await fetch(h.app.baseUrl + SMS_PATH, {
            method: "POST",
            headers: {
              "content-type": "application/x-www-form-urlencoded",
              "x-twilio-signature": signTwilioRequest("wrong", PUBLIC_URL + SMS_PATH, params),
            },
            body: new URLSearchParams(params),
          });
        return { status: res.status, body: await res.text() };
      };
      assert.equal((await text("stop", false)).status, 403);
      assert.equal(await h.app.store.isOptedOut(customer(5)), false);
      const stop = await text(" Stop please");
      assert.equal(stop.status, 200);
      assert.match(stop.body, /<Response\/>/);
      assert.equal(await h.app.store.isOptedOut(customer(5)), true);
      await text("See you tomorrow");
      assert.equal(await h.app.store.isOptedOut(customer(5)), true, "other texts change nothing");
      await text("START");
      assert.equal(await h.app.store.isOptedOut(customer(5)), false);
      assert.equal(h.app.reminders === undefined, "REMINDERS" in env);
    });
  }
});
