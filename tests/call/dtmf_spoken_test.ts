/** The call's two small judges: key-press batching and the text-only reply count. */
import assert from "node:assert/strict";
import { TimerGroup } from "../../src/clock.ts";
import { DTMF_BATCH_MS, DtmfBatcher } from "../../src/call/dtmf.ts";
import { saidInTextOnly, SpokenReplies } from "../../src/call/spoken_replies.ts";
import type { ServerItem } from "../../src/realtime/protocol.ts";
import { VirtualClock } from "../support/virtual_clock.ts";

Deno.test("dtmf: a quick sequence is one batch, sent once the keys go quiet", async () => {
  const clock = new VirtualClock();
  const batches: string[] = [];
  const keys = new DtmfBatcher(new TimerGroup(clock), (digits) => batches.push(digits));
  keys.press("1");
  await clock.advance(DTMF_BATCH_MS - 1);
  keys.press("2");
  await clock.advance(DTMF_BATCH_MS - 1);
  keys.press("#");
  assert.deepEqual(batches, [], "not while keys keep coming");
  await clock.advance(DTMF_BATCH_MS);
  assert.deepEqual(batches, ["1 2 #"]);
  keys.press("9");
  await clock.advance(DTMF_BATCH_MS);
  assert.deepEqual(batches, ["1 2 #", "9"], "a later key starts a new batch");
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("spoken replies: ask again once, give up on the second text-only reply in a row", () => {
  const replies = new SpokenReplies();
  assert.equal(replies.judge({ spoke: false, saidInText: true }), "ask_again");
  assert.equal(replies.judge({ spoke: false, saidInText: false }), "fine", "a tool call");
  assert.equal(replies.judge({ spoke: false, saidInText: true }), "give_up");
  assert.equal(replies.textOnlyInARow, 2);
});

Deno.test("spoken replies: a spoken reply resets the count", () => {
  const replies = new SpokenReplies();
  assert.equal(replies.judge({ spoke: false, saidInText: true }), "ask_again");
  assert.equal(replies.judge({ spoke: true, saidInText: true }), "fine");
  assert.equal(replies.textOnlyInARow, 0);
  assert.equal(replies.judge({ spoke: false, saidInText: true }), "ask_again");
});

Deno.test("saidInTextOnly: a message without audio content, not a tool call", () => {
  const text = { type: "message", content: [{ type: "output_text", text: "Hi" }] } as ServerItem;
  const audio = {
    type: "message",
    content: [{ type: "output_audio", transcript: "Hi" }],
  } as ServerItem;
  const tool = { type: "function_call", name: "get_slots", call_id: "c1" } as ServerItem;
  assert.equal(saidInTextOnly([text]), true);
  assert.equal(saidInTextOnly([audio]), false);
  assert.equal(saidInTextOnly([tool]), false);
  assert.equal(saidInTextOnly([]), false);
});
