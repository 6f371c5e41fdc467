/**
 * `DATABASE_URL` redaction: whatever the password contains, and wherever it is given, it
 * never reaches a log line or an error message.
 */
import assert from "node:assert/strict";
import { parseDatabaseUrl, redactDatabaseUrl } from "../../src/booking/store.ts";
import { loadConfig, redactConfig } from "../../src/config.ts";

const CASES: [string, string][] = [
  ["postgres://app:p@ss@db:5432/agent", "postgres://app:[redacted]@db:5432/agent"],
  ["postgres://app:a:b@c@db/agent", "postgres://app:[redacted]@db/agent"],
  [
    "postgres://app@db/agent?sslmode=require&password=hunter2",
    "postgres://app@db/agent?sslmode=require&password=[redacted]",
  ],
  ["postgresql://app:p%40ss@[::1]:5432/agent", "postgresql://app:[redacted]@[::1]:5432/agent"],
  ["postgres://:hunter2@db/agent", "postgres://:[redacted]@db/agent"],
  // Not a valid URL (an unencoded "/" or "#" in the password): nothing before the last "@".
  ["postgres://app:hun/ter2@db/agent", "postgres://[redacted]@db/agent"],
  ["postgres://app:hun#ter2@db/agent?x=1", "postgres://[redacted]@db/agent?[redacted]"],
  ["postgres://app@db/agent", "postgres://app@db/agent"],
  ["sqlite:./data/agent.db", "sqlite:./data/agent.db"],
];

Deno.test("DATABASE_URL: passwords with @ or :, in the query, or unparseable are redacted whole", () => {
  for (const [url, want] of CASES) assert.equal(redactDatabaseUrl(url), want, url);
});

Deno.test("DATABASE_URL: the logged config and an unsupported-URL error carry no password", () => {
  for (const [url] of CASES.slice(0, 7)) {
    const config = loadConfig({
      PUBLIC_URL: "https://voice.example.com",
      OPENAI_API_KEY: "sk-test",
      TWILIO_AUTH_TOKEN: "token",
      DATABASE_URL: url,
    });
    const text = JSON.stringify(redactConfig(config));
    assert.doesNotMatch(text, /hunter2|hun\/ter2|hun#ter2|p@ss|p%40ss|ss@db|a:b@c|b@c/, url);
  }
  assert.throws(
    () => parseDatabaseUrl("mysql://app:hunter2@db/agent"),
    (e: Error) => !e.message.includes("hunter2") && /not supported/.test(e.message),
  );
});
