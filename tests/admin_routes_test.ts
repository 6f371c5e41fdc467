/**
 * `GET /calls/:sid` takes only signed URLs that expire (issue 20: a signed URL worked
 * forever): the expiry is inside the signed URL, at most five minutes ahead.
 */
import assert from "node:assert/strict";
import { adminRoutes, callRecordPath, MAX_SIGNED_URL_SECONDS } from "../src/admin_routes.ts";
import { createRouter } from "../src/http.ts";
import { signTwilioRequest } from "../src/twilio/signature.ts";
import type { CallRecord } from "../src/call/record.ts";

const PUBLIC_URL = "https://voice.example.com";
const TOKEN = "admin-test-auth-token";
const NOW_MS = Date.UTC(2026, 2, 2, 12, 0, 0);
const SID = "CA" + "7".repeat(32);

const record = { callSid: SID, outcome: "booked" } as CallRecord;
const route = createRouter(adminRoutes({
  config: { publicUrl: PUBLIC_URL, twilio: { authToken: TOKEN, validateSignatures: true } },
  store: { getCall: (sid) => Promise.resolve(sid === SID ? record : undefined) },
  now: () => NOW_MS,
}));

async function get(path: string, signedPath = path, token = TOKEN) {
  const res = await route(
    new Request(`http://127.0.0.1${path}`, {
      headers: { "x-twilio-signature": signTwilioRequest(token, PUBLIC_URL + signedPath, {}) },
    }),
  );
  return { status: res.status, body: await res.text() };
}

Deno.test("admin: a signed URL with an expiry a minute ahead returns the record", async () => {
  const { status, body } = await get(callRecordPath(SID, NOW_MS / 1000 + 60));
  assert.equal(status, 200);
  assert.equal(JSON.parse(body).outcome, "booked");
});

Deno.test("admin: signed URLs without an expiry, expired, or expiring too late are refused", async () => {
  const never = await get(`/calls/${SID}`); // what used to work forever
  assert.equal(never.status, 403);
  assert.match(never.body, /expires/);
  const expired = await get(callRecordPath(SID, NOW_MS / 1000 - 1));
  assert.equal(expired.status, 403);
  assert.match(expired.body, /expired/);
  const tooLate = await get(callRecordPath(SID, NOW_MS / 1000 + MAX_SIGNED_URL_SECONDS + 60));
  assert.equal(tooLate.status, 403);
  assert.match(tooLate.body, /at most 300 s/);
});

Deno.test("admin: the expiry is signed: moving it, or another token, is refused", async () => {
  const signed = callRecordPath(SID, NOW_MS / 1000 + 60);
  const moved = callRecordPath(SID, NOW_MS / 1000 + 240);
  assert.equal((await get(moved, signed)).status, 403);
  assert.equal((await get(signed, signed, "another-token")).status, 403);
  assert.equal((await get(callRecordPath("CA404", NOW_MS / 1000 + 60))).status, 404);
});
