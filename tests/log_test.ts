/**
 * The JSON log line keeps its own fields whatever the properties are called (issue 20: a
 * property named `message` replaced the line's message, so lines read only "disk I/O
 * error"), and the helpers that bound what a peer can put in the log.
 */
import assert from "node:assert/strict";
import {
  clip,
  formatJsonLine,
  logger,
  LogLimiter,
  resetLogging,
  setupLogging,
} from "../src/log.ts";

Deno.test("log: a property named message (or level, logger, @timestamp) never replaces the line's own", async () => {
  const lines: string[] = [];
  await setupLogging({ level: "info", format: "json", write: (line) => lines.push(line) });
  try {
    logger("booking").with({ callSid: "CA1" }).error("saving call record failed: {message}", {
      message: "disk I/O error",
      level: "fatal",
      logger: "elsewhere",
      "@timestamp": "yesterday",
    });
  } finally {
    await resetLogging();
  }
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]);
  assert.equal(line.message, "saving call record failed: disk I/O error");
  assert.equal(line.level, "ERROR");
  assert.equal(line.logger, "voice-agent.booking");
  assert.notEqual(line["@timestamp"], "yesterday");
  assert.equal(line["property.message"], "disk I/O error");
  assert.equal(line["property.level"], "fatal");
  assert.equal(line["property.logger"], "elsewhere");
  assert.equal(line.callSid, "CA1");
});

Deno.test("log: formatJsonLine leaves ordinary properties as they are", () => {
  const line = JSON.parse(formatJsonLine({
    category: ["voice-agent", "call"],
    level: "info",
    message: ["call ended: ", "booked"],
    rawMessage: "call ended: {outcome}",
    timestamp: 0,
    properties: { outcome: "booked", turns: 3 },
  }));
  assert.equal(line.message, "call ended: booked");
  assert.equal(line.outcome, "booked");
  assert.equal(line.turns, 3);
});

Deno.test("log: clip cuts a peer's value and says how much was cut", () => {
  assert.equal(clip("CA123"), "CA123");
  assert.equal(clip(undefined), undefined);
  const long = clip("CA" + "x".repeat(60_000), 40)!;
  assert.equal(long, "CA" + "x".repeat(38) + "…(+59962 chars)");
  assert.equal(clip(["a", "b"]), "a,b");
});

Deno.test("log: LogLimiter lets a burst through per window and reports what it held back", () => {
  let now = 0;
  const limiter = new LogLimiter({ burst: 3, windowMs: 1000, now: () => now });
  const taken = Array.from({ length: 10 }, () => limiter.take().write);
  assert.deepEqual(taken, [true, true, true, false, false, false, false, false, false, false]);
  now = 1000;
  assert.deepEqual(limiter.take(), { write: true, suppressed: 7 });
  assert.deepEqual(limiter.take(), { write: true, suppressed: 0 });
});

Deno.test("log messages in src/ start lowercase unless they start with a name or an acronym", async () => {
  // One casing for every message: "booked {id}", "stream stopped"; a message may start with a
  // proper name (Twilio, OpenAI, PostgreSQL, SQLite) or an all-caps word (SMS, REST, MAX_CALLS).
  const allowed = /^(?:[A-Z][A-Z0-9_]+\b|Twilio\b|OpenAI\b|PostgreSQL\b|SQLite\b)/;
  const call = /\.(?:debug|info|warn|warning|error|fatal)\(\s*"([^"]*)"/g;
  const offenders: string[] = [];
  const walk = async (dir: URL): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory && entry.name !== "vendor") await walk(url);
      else if (entry.name.endsWith(".ts")) {
        for (const [, message] of (await Deno.readTextFile(url)).matchAll(call)) {
          if (/^[A-Z]/.test(message) && !allowed.test(message)) {
            offenders.push(`${url.pathname.split("/src/")[1]}: ${message}`);
          }
        }
      }
    }
  };
  await walk(new URL("../src/", import.meta.url));
  assert.deepEqual(offenders, []);
});
