import assert from "node:assert/strict";
import { buildInstructions } from "../../src/agent/prompt.ts";
import { DEFAULT_BUSINESS_FILE, loadBusinessProfile } from "../../src/booking/business.ts";

const profile = loadBusinessProfile(DEFAULT_BUSINESS_FILE);

Deno.test("prompt: today's date is the business's, not the server's (UTC)", () => {
  // 03:30 UTC on 26 Nov is still 25 Nov (Wednesday) in New York.
  const now = Temporal.Instant.from("2026-11-26T03:30:00Z");
  const text = buildInstructions({ profile, now, callerNumber: "+15550001111", canTransfer: true });
  assert.match(text, /Today is Wednesday 25 November \(2026-11-25\), and it is 10:30\sPM/);
  assert.match(text, /America\/New_York/);
});

Deno.test("prompt: carries services with prices, hours, policies and the booking rules", () => {
  const now = Temporal.Instant.from("2026-11-20T15:00:00Z");
  const text = buildInstructions({
    profile,
    now,
    callerNumber: "+15550001111",
    canTransfer: false,
  });
  for (const s of profile.services) assert.ok(text.includes(s.name), s.name);
  assert.match(text, /Women's cut \(id womens-cut\): \$75\.00, 60 minutes/);
  assert.match(text, /Monday: closed/);
  assert.match(text, /Tuesday: 09:00–12:30, 13:30–18:00/);
  assert.match(text, /Thursday 26 November \(Thanksgiving\)/);
  assert.ok(text.includes(profile.policies.cancellation));
  assert.match(text, /get a clear yes/);
  assert.match(text, /never invent or guess a time/);
  assert.match(text, /short/);
  assert.match(text, /\+15550001111/);
  assert.match(text, /No one is available/);
  assert.doesNotMatch(text, /transfer_call/);
});

Deno.test("prompt: with a transfer number the agent knows it can transfer", () => {
  const text = buildInstructions({
    profile,
    now: Temporal.Now.instant(),
    canTransfer: true,
  });
  assert.match(text, /call transfer_call/);
  assert.match(text, /ask for a phone number before booking/);
});
