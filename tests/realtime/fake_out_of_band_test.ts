/**
 * The strict fake's out-of-band responses, as the GA API documents them: `conversation:
 * "none"` answers in text, writes nothing to the conversation, runs beside an active
 * default response, resolves item references; malformed requests are refused with an
 * `error` carrying the request's `event_id`, like the real server. The request the service
 * builds is accepted as is.
 */
import assert from "node:assert/strict";
import { type FakeRealtime, startFakeRealtime } from "../../scripts/sim/fake_realtime.ts";
import { buildSessionConfig } from "../../src/realtime/session_config.ts";
import { responseCreate, sessionUpdate, userText } from "../../src/realtime/protocol.ts";
import { summaryRequestEvent } from "../../src/after_call/summary_request.ts";
import { type RawClient, rawClient } from "./helpers.ts";

const AUTH = { Authorization: "Bearer test-key" };

async function client(fake: FakeRealtime): Promise<RawClient> {
  const c = await rawClient(`${fake.url}?model=gpt-realtime`, AUTH);
  await c.next("session.created");
  c.send(sessionUpdate(buildSessionConfig({
    model: "gpt-realtime",
    voice: "marin",
    audioFormat: "pcmu",
    instructions: "Be brief.",
    tools: [],
    vad: { type: "server_vad", threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: 500 },
  })));
  await c.next("session.updated");
  return c;
}

Deno.test("fake out-of-band: the service's summary request is answered in text, nothing joins the conversation", async () => {
  const fake = await startFakeRealtime({
    outOfBand: (ctx) => ({
      text: JSON.stringify({ seen: ctx.input.map((i) => i.text ?? i.type), meta: ctx.metadata }),
    }),
  });
  try {
    const c = await client(fake);
    c.send(userText("I'd like a haircut."));
    const added = await c.next("conversation.item.added");
    const itemId = (added.item as { id: string }).id;
    const before = c.events.length;
    c.send(summaryRequestEvent("evt_sum_1", [itemId], "Summarise.", "The call is over."));
    const done = await c.next("response.done", 3000, before);
    const response = done.response as Record<string, unknown>;
    assert.equal(response.status, "completed");
    assert.equal(response.conversation_id, null);
    assert.deepEqual(response.metadata, { purpose: "call_summary", request: "evt_sum_1" });
    const output = response.output as { content: { type: string; text: string }[] }[];
    assert.equal(output[0].content[0].type, "output_text");
    assert.deepEqual(JSON.parse(output[0].content[0].text), {
      seen: ["I'd like a haircut.", "The call is over."],
      meta: { purpose: "call_summary", request: "evt_sum_1" },
    });
    const types = c.events.slice(before).map((e) => e.type);
    assert.ok(types.includes("response.output_text.delta"));
    assert.ok(types.includes("response.output_text.done"));
    assert.ok(!types.some((t) => t.startsWith("conversation.item")), types.join(","));
    assert.ok(!types.some((t) => t.includes("audio")), "text only");
    const session = fake.sessions[0];
    assert.equal(session.items.length, 1, "nothing was added to the conversation");
    assert.deepEqual(session.errors, []);
    assert.equal(session.outOfBand[0].status, "completed");
    assert.deepEqual(session.outOfBand[0].references, [itemId]);
    await c.close();
  } finally {
    await fake.close();
  }
});

Deno.test("fake out-of-band: allowed while a default response is active (only that one is exclusive)", async () => {
  const fake = await startFakeRealtime({
    chunkMs: 100,
    chunkIntervalMs: 50,
    responder: () => ({ audioMs: 2000, transcript: "A long answer." }),
  });
  try {
    const c = await client(fake);
    c.send(responseCreate());
    await c.next("response.created");
    c.send(summaryRequestEvent("evt_sum_2", [], "Summarise.", "Go."));
    const before = c.events.length;
    c.send(responseCreate()); // a second default response is still refused
    const refused = await c.next("error", 3000, before);
    assert.equal(
      (refused.error as { code: string }).code,
      "conversation_already_has_active_response",
    );
    await fake.waitFor(() => fake.sessions[0].outOfBand[0]?.status === "completed", 3000);
    assert.equal(fake.sessions[0].responses.length, 1, "the default response runs on");
    await c.close();
  } finally {
    await fake.close();
  }
});

Deno.test("fake out-of-band: malformed requests are refused with the request's event_id", async () => {
  const fake = await startFakeRealtime();
  try {
    const c = await client(fake);
    const cases: [Record<string, unknown>, RegExp, string][] = [
      [
        { conversation: "none", output_modalities: ["audio", "text"] },
        /output_modalities/,
        "invalid_value",
      ],
      [
        {
          conversation: "none",
          output_modalities: ["text"],
          input: [{ type: "item_reference", id: "item_nope" }],
        },
        /item_nope/,
        "invalid_value",
      ],
      [
        { conversation: "none", output_modalities: ["text"], input: [{ type: "item_reference" }] },
        /input/,
        "invalid_value",
      ],
      [
        { conversation: "none", output_modalities: ["text"], metadata: { k: "x".repeat(513) } },
        /metadata/,
        "invalid_value",
      ],
      [
        { conversation: "none", output_modalities: ["text"], modalities: ["text"] },
        /modalities/,
        "unknown_parameter",
      ],
      [{ conversation: "elsewhere", output_modalities: ["text"] }, /conversation/, "invalid_value"],
    ];
    for (const [i, [response, message, code]] of cases.entries()) {
      const before = c.events.length;
      c.send({ type: "response.create", event_id: `evt_bad_${i}`, response });
      const e = await c.next("error", 3000, before);
      const error = e.error as { code: string; message: string; event_id: string };
      assert.equal(error.event_id, `evt_bad_${i}`, JSON.stringify(response));
      assert.equal(error.code, code, JSON.stringify(error));
      assert.match(error.message, message);
    }
    assert.equal(c.events.filter((e) => e.type === "response.created").length, 0);
    await c.close();
  } finally {
    await fake.close();
  }
});

Deno.test("fake out-of-band: on cue the socket drops instead of answering (a session dying)", async () => {
  const fake = await startFakeRealtime({ outOfBand: () => ({ drop: true }) });
  try {
    const c = await client(fake);
    c.send(summaryRequestEvent("evt_sum_3", [], "Summarise.", "Go."));
    const closed = await c.closed;
    assert.equal(closed.code, 1011);
    assert.equal(fake.sessions[0].outOfBand[0].status, "dropped");
    assert.equal(c.events.filter((e) => e.type === "response.done").length, 0);
  } finally {
    await fake.close();
  }
});
