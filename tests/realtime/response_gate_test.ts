/** ResponseGate: one response at a time, reconciled with what the server answered. */
import assert from "node:assert/strict";
import { ResponseGate } from "../../src/realtime/response_gate.ts";

Deno.test("gate: a request goes out when idle; the next waits for response.done", () => {
  const g = new ResponseGate();
  const first = g.request(undefined, "defer", "e1");
  assert.equal(first.kind, "send");
  assert.equal(g.state, "requested");
  assert.deepEqual(g.request({ instructions: "b" }, "defer", "e2"), { kind: "deferred" });
  g.created("r1", "e1");
  assert.equal(g.state, "active");
  const next = g.done("r1");
  assert.equal(next?.eventId, "e2", "the deferred request is sent now");
  assert.equal(g.state, "requested");
  g.created("r2", "e2");
  assert.equal(g.done("r2"), undefined);
  assert.equal(g.state, "idle");
});

Deno.test("gate: a drop request meeting a response in progress is dropped", () => {
  const g = new ResponseGate();
  g.request(undefined, "defer", "e1");
  assert.deepEqual(g.request({}, "drop", "e2"), { kind: "dropped" });
  g.created("r1", "e1");
  assert.equal(g.done("r1"), undefined);
  assert.equal(g.busy, false);
});

Deno.test("gate: refused because the server's own response came first: waits, then goes", () => {
  const g = new ResponseGate();
  g.request({ instructions: "follow up" }, "defer", "e1");
  g.created("vad", undefined); // the server's own response (no metadata of ours)
  assert.equal(g.outstanding?.eventId, "e1", "ours is still out");
  assert.deepEqual(g.rejected("e1", "conversation_already_has_active_response"), {
    kind: "waiting",
  });
  assert.equal(g.state, "active");
  const retry = g.done("vad");
  assert.equal(retry?.eventId, "e1", "retried after the server's response");
  assert.equal(retry?.options?.instructions, "follow up");
});

Deno.test("gate: a drop request refused by the server's own response is dropped", () => {
  const g = new ResponseGate();
  g.request({}, "drop", "e1");
  assert.deepEqual(g.rejected("e1", "conversation_already_has_active_response"), {
    kind: "dropped",
  });
  assert.equal(g.done("vad"), undefined);
  assert.equal(g.busy, false, "never left believing it is busy");
});

Deno.test("gate: refused for another reason while idle: free, and a waiting request goes", () => {
  const g = new ResponseGate();
  g.request({}, "defer", "e1");
  g.request({ instructions: "x" }, "defer", "e2");
  const outcome = g.rejected("e1", "invalid_value");
  assert.equal(outcome.kind, "failed");
  assert.equal(outcome.kind === "failed" && outcome.next?.eventId, "e2");
  g.created("r", "e2");
  g.done("r");
  assert.equal(g.busy, false);
});

Deno.test("gate: a request with no response.created by its deadline is forgotten", () => {
  const g = new ResponseGate();
  g.request({}, "defer", "e1");
  assert.equal(g.expired("e1"), true);
  assert.equal(g.busy, false);
  assert.equal(g.expired("e1"), false, "only once");
  const answered = new ResponseGate();
  answered.request({}, "defer", "e2");
  answered.created("r", "e2");
  assert.equal(answered.expired("e2"), false, "answered in time");
});

Deno.test("gate: an unknown event id is not ours", () => {
  const g = new ResponseGate();
  g.request({}, "defer", "e1");
  assert.deepEqual(g.rejected("e9", "whatever"), { kind: "unknown" });
  assert.equal(g.outstanding?.eventId, "e1");
});

Deno.test("gate: refused by a transient server error: tried again once, then forgotten", () => {
  const g = new ResponseGate();
  g.request({ instructions: "greet" }, "drop", "e1");
  const first = g.rejected("e1", undefined, true);
  assert.equal(first.kind, "failed");
  assert.equal(g.busy, false, "free");
  const retry = first.kind === "failed" ? first.retry : undefined;
  assert.deepEqual(retry?.options, { instructions: "greet" });
  assert.equal(retry?.policy, "drop");
  // The connection asks again with a fresh event id, counting the attempt.
  const again = g.request(retry!.options, retry!.policy, "e2", retry!.attempt + 1);
  assert.equal(again.kind, "send");
  const second = g.rejected("e2", undefined, true);
  assert.equal(second.kind === "failed" && second.retry, undefined, "only once");
  assert.equal(g.busy, false);
  // Not transient (e.g. invalid_value): not tried again.
  g.request({}, "defer", "e3");
  const invalid = g.rejected("e3", "invalid_value");
  assert.equal(invalid.kind === "failed" && invalid.retry, undefined);
});

Deno.test("gate: a transient refusal with a newer request waiting sends the newer one only", () => {
  const g = new ResponseGate();
  g.request({}, "defer", "e1");
  g.request({ instructions: "newer" }, "defer", "e2");
  const outcome = g.rejected("e1", undefined, true);
  assert.equal(outcome.kind === "failed" && outcome.next?.eventId, "e2");
  assert.equal(outcome.kind === "failed" && outcome.retry, undefined);
});
