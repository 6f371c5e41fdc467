import assert from "node:assert/strict";
import { z } from "zod";
import { defineTool, outcomeToOutput, ToolRegistry } from "../../src/agent/tools.ts";

const add = defineTool({
  name: "add",
  description: "Adds two numbers.",
  parameters: z.object({ a: z.number().describe("first"), b: z.number().int() }),
  timeoutMs: 1000,
  handler: ({ a, b }) => Promise.resolve({ sum: a + b }),
});
const slow = defineTool({
  name: "slow",
  description: "Never finishes in time.",
  parameters: z.object({}),
  timeoutMs: 20,
  handler: (_args, ctx) =>
    new Promise((resolve) => {
      const t = setTimeout(() => resolve("late"), 500);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve("aborted");
      });
    }),
});
const broken = defineTool({
  name: "broken",
  description: "Throws.",
  parameters: z.object({}),
  timeoutMs: 1000,
  handler: () => Promise.reject(new Error("database down")),
});
const ctx = { callSid: "CA1", callerNumber: "+15550001111" };

Deno.test("tools: JSON Schema for the session comes from the zod schema", () => {
  const registry = new ToolRegistry([add]);
  const [def] = registry.definitions();
  assert.equal(def.type, "function");
  assert.equal(def.name, "add");
  assert.equal(def.parameters.$schema, undefined);
  assert.deepEqual(def.parameters.required, ["a", "b"]);
  assert.deepEqual(def.parameters.properties, {
    a: { type: "number", description: "first" },
    b: { type: "integer", minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER },
  });
});

Deno.test("tools: valid arguments run the handler", async () => {
  const out = await new ToolRegistry([add]).invoke("add", '{"a":1.5,"b":2}', ctx);
  assert.equal(out.ok, true);
  assert.deepEqual(out.ok && out.output, { sum: 3.5 });
  assert.equal(outcomeToOutput(out), '{"sum":3.5}');
});

Deno.test("tools: wrong arguments from the model become a structured error", async () => {
  const registry = new ToolRegistry([add]);
  const bad = await registry.invoke("add", '{"a":"one"}', ctx);
  assert.equal(bad.ok, false);
  if (bad.ok) return;
  assert.equal(bad.error.code, "invalid_arguments");
  assert.deepEqual(bad.error.issues?.map((i) => i.split(":")[0]), ["a", "b"]);
  const notJson = await registry.invoke("add", "{a:1", ctx);
  assert.equal(!notJson.ok && notJson.error.code, "invalid_arguments");
  const unknown = await registry.invoke("multiply", "{}", ctx);
  assert.equal(!unknown.ok && unknown.error.code, "unknown_tool");
  assert.match(outcomeToOutput(unknown), /"code":"unknown_tool"/);
});

Deno.test("tools: timeouts and failures are error results, and the handler is aborted", async () => {
  const registry = new ToolRegistry([slow, broken]);
  const t = await registry.invoke("slow", "{}", ctx);
  assert.equal(!t.ok && t.error.code, "timeout");
  const f = await registry.invoke("broken", "", ctx);
  assert.equal(!f.ok && f.error.code, "failed");
  // The model may read this aloud: a generic message; the detail goes to the log.
  assert.doesNotMatch(!f.ok ? f.error.message : "", /database down/);
  assert.match(!f.ok ? f.error.message : "", /internal problem/);
});

Deno.test("tools: an unknown tool name is not echoed in full", async () => {
  const name = "x".repeat(60_000);
  const out = await new ToolRegistry([add]).invoke(name, "{}", ctx);
  assert.equal(!out.ok && out.error.code, "unknown_tool");
  assert.ok(outcomeToOutput(out).length < 500);
});

Deno.test("tools: duplicate names are refused", () => {
  assert.throws(() => new ToolRegistry([add, add]), /duplicate tool add/);
});
