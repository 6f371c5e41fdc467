/**
 * Reminder settings: off by default; on only with REST credentials and a from-number, with
 * every problem named.
 */
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../../src/config.ts";

const REQUIRED = {
  PUBLIC_URL: "https://voice.example.com",
  OPENAI_API_KEY: "sk-test",
  TWILIO_AUTH_TOKEN: "token",
};
const SID = "AC" + "0".repeat(32);

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ ...REQUIRED, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

Deno.test("reminder config: off by default, with the documented defaults", () => {
  assert.deepEqual(loadConfig(REQUIRED).reminders, {
    mode: "off",
    hoursBefore: 24,
    retryMinutes: 60,
    callsPerMinute: 6,
    callFrom: undefined,
    smsFrom: undefined,
  });
});

Deno.test("reminder config: calls need TWILIO_ACCOUNT_SID and a from-number", () => {
  assert.deepEqual(problems({ REMINDERS: "call" }), [
    "REMINDERS=call needs TWILIO_ACCOUNT_SID and TWILIO_FROM (or SMS_FROM); set them, or set REMINDERS=off",
  ]);
  assert.deepEqual(problems({ REMINDERS: "call", TWILIO_ACCOUNT_SID: SID }), [
    "REMINDERS=call needs TWILIO_FROM (or SMS_FROM); set it, or set REMINDERS=off",
  ]);
  const c = loadConfig({
    ...REQUIRED,
    REMINDERS: "CALL",
    TWILIO_ACCOUNT_SID: SID,
    SMS_FROM: "+15550008888",
    REMINDER_HOURS_BEFORE: "48",
    REMINDER_RETRY_MINUTES: "15",
    OUTBOUND_CALLS_PER_MINUTE: "30",
  }).reminders;
  assert.deepEqual(c, {
    mode: "call",
    hoursBefore: 48,
    retryMinutes: 15,
    callsPerMinute: 30,
    callFrom: "+15550008888",
    smsFrom: "+15550008888",
  });
  const both = loadConfig({
    ...REQUIRED,
    REMINDERS: "call",
    TWILIO_ACCOUNT_SID: SID,
    TWILIO_FROM: "+15550009999",
  }).reminders;
  assert.equal(both.callFrom, "+15550009999");
  assert.equal(both.smsFrom, undefined, "no texts without SMS_FROM");
});

Deno.test("reminder config: texts come from SMS_FROM, else TWILIO_FROM", () => {
  const r = loadConfig({
    ...REQUIRED,
    REMINDERS: "sms",
    TWILIO_ACCOUNT_SID: SID,
    TWILIO_FROM: "+15550009999",
  }).reminders;
  assert.equal(r.smsFrom, "+15550009999");
});

Deno.test("reminder config: bad values are named with what to set", () => {
  const p = problems({
    REMINDERS: "sometimes",
    REMINDER_HOURS_BEFORE: "0",
    REMINDER_RETRY_MINUTES: "x",
    OUTBOUND_CALLS_PER_MINUTE: "100000",
    TWILIO_FROM: "555-1234",
  });
  for (
    const name of [
      "REMINDERS",
      "REMINDER_HOURS_BEFORE",
      "REMINDER_RETRY_MINUTES",
      "OUTBOUND_CALLS_PER_MINUTE",
      "TWILIO_FROM",
    ]
  ) {
    assert.ok(p.some((x) => x.startsWith(`${name} is invalid`)), `${name}: ${p.join(" | ")}`);
  }
  assert.ok(p.some((x) => x.includes("call, sms or off")));
});
