import assert from "node:assert/strict";
import { CallControlError, TwilioCallControl } from "../../src/twilio/rest.ts";
import { startFakeTwilioRest } from "../support/fake_twilio_rest.ts";

const ACCOUNT = "AC" + "a".repeat(32);
const TOKEN = "rest-test-token";
const CALL = "CA" + "b".repeat(32);

/** A call control pointed at the fake REST API. */
function controlFor(fake: ReturnType<typeof startFakeTwilioRest>): TwilioCallControl {
  return new TwilioCallControl({
    accountSid: ACCOUNT,
    authToken: TOKEN,
    httpClient: fake.httpClient,
  });
}

Deno.test("REST: transfer redirects a live call with <Dial> TwiML", async () => {
  const fake = startFakeTwilioRest(ACCOUNT, TOKEN);
  try {
    fake.calls.set(CALL, "in-progress");
    const control = controlFor(fake);
    await control.transfer(CALL, "+15551234567");
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0].path, `/2010-04-01/Accounts/${ACCOUNT}/Calls/${CALL}.json`);
    assert.match(fake.requests[0].form.Twiml, /<Response><Dial>\+15551234567<\/Dial><\/Response>$/);
    assert.equal(fake.calls.get(CALL), "in-progress");
  } finally {
    await fake.close();
  }
});

Deno.test("REST: hang up completes a call; an ended or unknown call is not an error", async () => {
  const fake = startFakeTwilioRest(ACCOUNT, TOKEN);
  try {
    fake.calls.set(CALL, "in-progress");
    const control = controlFor(fake);
    assert.equal(await control.hangUp(CALL), "completed");
    assert.deepEqual(fake.requests[0].form, { Status: "completed" });
    assert.equal(fake.calls.get(CALL), "completed");
    assert.equal(await control.hangUp(CALL), "already_ended");
    assert.equal(await control.hangUp("CA" + "c".repeat(32)), "already_ended");
    await assert.rejects(
      control.transfer(CALL, "+15551234567"),
      (e) => e instanceof CallControlError && e.code === 21220,
    );
  } finally {
    await fake.close();
  }
});

Deno.test("REST: SMS is sent with To/From/Body; bad credentials and numbers fail clearly", async () => {
  const fake = startFakeTwilioRest(ACCOUNT, TOKEN);
  try {
    const control = controlFor(fake);
    const { sid } = await control.sendSms("+15557654321", "+15550001111", "See you at 3 pm");
    assert.match(sid, /^SM[0-9a-f]{32}$/);
    assert.equal(fake.requests[0].path, `/2010-04-01/Accounts/${ACCOUNT}/Messages.json`);
    assert.deepEqual(fake.requests[0].form, {
      To: "+15557654321",
      From: "+15550001111",
      Body: "See you at 3 pm",
    });
    await assert.rejects(
      control.sendSms("12", "+15550001111", "x"),
      (e) => e instanceof CallControlError && e.code === 21211,
    );
    const wrong = new TwilioCallControl({
      accountSid: ACCOUNT,
      authToken: "wrong",
      httpClient: fake.httpClient,
    });
    await assert.rejects(
      wrong.hangUp(CALL),
      (e) => e instanceof CallControlError && e.code === 20003 && e.status === 401,
    );
  } finally {
    await fake.close();
  }
});
