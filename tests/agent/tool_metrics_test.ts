/**
 * Model-chosen strings never become metric labels: random tool names, error codes and
 * results all land in a bounded set of series.
 */
import assert from "node:assert/strict";
import { bookingTools } from "../../src/agent/booking_tools.ts";
import { callControlTools } from "../../src/agent/call_control_tools.ts";
import type { BookingStore } from "../../src/booking/types.ts";
import { Metrics, TOOL_LABELS } from "../../src/metrics.ts";
import { testProfile } from "../booking/fixtures.ts";

Deno.test("metrics: 2,000 random tool names, codes and results stay a handful of series", async () => {
  const metrics = new Metrics();
  const baseline = (await metrics.render()).length;
  const random = () => crypto.randomUUID().replaceAll("-", "_");
  for (let i = 0; i < 2000; i++) {
    // What the call layer records for a tool name the model made up.
    metrics.toolCalls.inc({ tool: `tool_${random()}`, result: "unknown_tool" });
    metrics.toolCalls.inc({ tool: "book_slot", result: `reason_${random()}` });
    metrics.bookings.inc({ result: `status_${random()}` });
    metrics.protocolErrors.inc({ side: "model", reason: `code_${random()}` });
    metrics.protocolErrors.inc({ side: `side_${random()}`, reason: "invalid_audio" });
    metrics.callsTotal.inc({ outcome: `Outcome ${random()}` });
  }
  metrics.toolCalls.inc({ tool: "get_slots", result: "ok" });
  metrics.protocolErrors.inc({ side: "model", reason: "session_expired" });
  const text = await metrics.render();
  assert.ok(text.length - baseline < 4000, `/metrics grew by ${text.length - baseline} bytes`);
  assert.match(text, /voice_tool_calls_total\{tool="unknown",result="unknown_tool"\} 2000/);
  assert.match(text, /voice_tool_calls_total\{tool="book_slot",result="other"\} 2000/);
  assert.match(text, /voice_tool_calls_total\{tool="get_slots",result="ok"\} 1/);
  assert.match(text, /voice_bookings_total\{result="other"\} 2000/);
  assert.match(text, /voice_protocol_errors_total\{side="model",reason="other"\} 2000/);
  assert.match(text, /voice_protocol_errors_total\{side="model",reason="session_expired"\} 1/);
  assert.match(text, /voice_protocol_errors_total\{side="other",reason="invalid_audio"\} 2000/);
  assert.match(text, /voice_calls_total\{outcome="other"\} 2000/);
  assert.doesNotMatch(text, /tool_[0-9a-f]{8}|code_[0-9a-f]{8}|status_[0-9a-f]{8}/);
});

Deno.test("metrics: our own label values keep their series", async () => {
  const metrics = new Metrics();
  metrics.callsTotal.inc({ outcome: "booked" });
  metrics.webhooks.inc({ route: "voice", result: "accepted" });
  metrics.protocolErrors.inc({ side: "twilio", reason: "stream_error" });
  metrics.bookings.inc({ result: "already_booked" });
  const text = await metrics.render();
  assert.match(text, /voice_calls_total\{outcome="booked"\} 1/);
  assert.match(text, /voice_webhooks_total\{route="voice",result="accepted"\} 1/);
  assert.match(text, /voice_protocol_errors_total\{side="twilio",reason="stream_error"\} 1/);
  assert.match(text, /voice_bookings_total\{result="already_booked"\} 1/);
});

Deno.test("metrics: every tool the agent offers has its own tool label", () => {
  const tools = [
    ...bookingTools({ profile: testProfile(), store: {} as BookingStore }),
    ...callControlTools({ requestHangUp() {}, requestTransfer() {} }),
  ];
  for (const t of tools) assert.ok(TOOL_LABELS.has(t.name), `${t.name} missing from TOOL_LABELS`);
});
