import assert from "node:assert/strict";
import { warnDeprecatedModels } from "../src/app.ts";
import { deprecationOf } from "../src/realtime/models.ts";
import { ConfigError, loadConfig, mergeEnv, redactConfig } from "../src/config.ts";

const REQUIRED = {
  PUBLIC_URL: "https://voice.example.com",
  OPENAI_API_KEY: "sk-test-secret",
  TWILIO_AUTH_TOKEN: "twilio-secret-token",
};

function problemsFor(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("config: defaults apply when only the required variables are set", () => {
  const c = loadConfig(REQUIRED);
  assert.equal(c.port, 8080);
  assert.equal(c.host, "127.0.0.1", "loopback by default: a reverse proxy terminates TLS");
  assert.equal(c.publicUrl, "https://voice.example.com");
  assert.deepEqual(c.openai, {
    apiKey: "sk-test-secret",
    realtimeUrl: "wss://api.openai.com/v1/realtime",
    model: "gpt-realtime-2.1",
    transcriptionModel: "gpt-transcribe",
    reasoningEffort: undefined,
    voice: "marin",
    webSocketClient: "ws",
  });
  assert.deepEqual(c.twilio, {
    authToken: "twilio-secret-token",
    accountSid: undefined,
    validateSignatures: true,
  });
  assert.equal(c.audioFormat, "pcmu");
  assert.equal(c.databaseUrl, "sqlite:./data/agent.db");
  assert.equal(c.businessFile, undefined);
  assert.equal(c.transferNumber, undefined);
  assert.equal(c.smsFrom, undefined);
  assert.deepEqual(c.log, { level: "info", format: "json" });
  assert.deepEqual(c.limits, {
    maxCalls: 50,
    maxCallSeconds: 1800,
    drainSeconds: 30,
    idleCheckinSeconds: 15,
    idleHangupSeconds: 45,
    mediaTimeoutSeconds: 10,
  });
  assert.deepEqual(c.vad, {
    type: "server_vad",
    threshold: 0.5,
    prefixPaddingMs: 300,
    silenceDurationMs: 500,
  });
});

Deno.test("config: every variable is read when set", () => {
  const c = loadConfig({
    ...REQUIRED,
    PORT: "9000",
    HOST: "127.0.0.1",
    PUBLIC_URL: "https://voice.example.com/",
    OPENAI_REALTIME_URL: "ws://127.0.0.1:9999/v1/realtime",
    OPENAI_REALTIME_MODEL: "gpt-realtime-mini",
    OPENAI_VOICE: "cedar",
    TWILIO_ACCOUNT_SID: "AC" + "0123456789abcdef".repeat(2),
    TWILIO_VALIDATE_SIGNATURES: "false",
    TWILIO_ALLOW_UNSIGNED: "true",
    AUDIO_FORMAT: "pcm16",
    DATABASE_URL: "postgres://app:pw@db:5432/agent",
    BUSINESS_FILE: "/etc/voice-agent/business.json",
    TRANSFER_NUMBER: "+15551234567",
    SMS_FROM: "+15557654321",
    LOG_LEVEL: "WARN",
    LOG_FORMAT: "pretty",
    MAX_CALLS: "7",
    MAX_CALL_SECONDS: "600",
    DRAIN_SECONDS: "5",
    IDLE_CHECKIN_SECONDS: "10",
    IDLE_HANGUP_SECONDS: "20",
    MEDIA_TIMEOUT_SECONDS: "4",
  });
  assert.equal(c.port, 9000);
  assert.equal(c.host, "127.0.0.1");
  assert.equal(c.publicUrl, "https://voice.example.com", "trailing slash removed");
  assert.equal(c.openai.realtimeUrl, "ws://127.0.0.1:9999/v1/realtime");
  assert.equal(c.openai.model, "gpt-realtime-mini");
  assert.equal(c.openai.voice, "cedar");
  assert.equal(c.twilio.accountSid, "AC0123456789abcdef0123456789abcdef");
  assert.equal(c.twilio.validateSignatures, false);
  assert.equal(c.audioFormat, "pcm16");
  assert.equal(c.databaseUrl, "postgres://app:pw@db:5432/agent");
  assert.equal(c.businessFile, "/etc/voice-agent/business.json");
  assert.equal(c.transferNumber, "+15551234567");
  assert.equal(c.smsFrom, "+15557654321");
  assert.deepEqual(c.log, { level: "warning", format: "pretty" });
  assert.deepEqual(c.limits, {
    maxCalls: 7,
    maxCallSeconds: 600,
    drainSeconds: 5,
    idleCheckinSeconds: 10,
    idleHangupSeconds: 20,
    mediaTimeoutSeconds: 4,
  });
});

Deno.test("config: semantic VAD is selectable", () => {
  const c = loadConfig({ ...REQUIRED, VAD_TYPE: "semantic_vad", VAD_EAGERNESS: "low" });
  assert.deepEqual(c.vad, { type: "semantic_vad", eagerness: "low" });
  const s = loadConfig({
    ...REQUIRED,
    VAD_THRESHOLD: "0.7",
    VAD_PREFIX_PADDING_MS: "200",
    VAD_SILENCE_MS: "800",
  });
  assert.deepEqual(s.vad, {
    type: "server_vad",
    threshold: 0.7,
    prefixPaddingMs: 200,
    silenceDurationMs: 800,
  });
});

Deno.test("config: log format defaults to pretty on a terminal", () => {
  assert.equal(loadConfig(REQUIRED, { isTty: true }).log.format, "pretty");
  assert.equal(loadConfig(REQUIRED, { isTty: false }).log.format, "json");
});

Deno.test("config: missing required variables are all listed in one error", () => {
  let error: unknown;
  try {
    loadConfig({});
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ConfigError);
  assert.equal(error.problems.length, 3);
  for (const name of ["PUBLIC_URL", "OPENAI_API_KEY", "TWILIO_AUTH_TOKEN"]) {
    assert.match(error.message, new RegExp(`${name} is required but not set`));
  }
  assert.match(error.message, /^Configuration error: 3 problems/);
  assert.doesNotMatch(error.message, /at .*\.ts:\d+/, "no stack trace in the message");
});

Deno.test("config: empty values count as unset", () => {
  const problems = problemsFor({ ...REQUIRED, OPENAI_API_KEY: "  " });
  assert.deepEqual(problems.length, 1);
  assert.match(problems[0], /OPENAI_API_KEY is required/);
  assert.equal(loadConfig({ ...REQUIRED, PORT: "" }).port, 8080);
});

Deno.test("config: each invalid value is reported with a hint", () => {
  const cases: Array<[string, string, RegExp]> = [
    ["PORT", "http", /PORT is invalid.*TCP port/],
    ["PORT", "70000", /PORT is invalid/],
    ["PORT", "80.5", /PORT is invalid/],
    ["PUBLIC_URL", "voice.example.com", /PUBLIC_URL is invalid/],
    ["PUBLIC_URL", "http://voice.example.com", /PUBLIC_URL is invalid \(must use https/],
    ["PUBLIC_URL", "https://voice.example.com/twilio", /PUBLIC_URL is invalid \(must be an origin/],
    ["PUBLIC_URL", "https://voice.example.com?x=1", /PUBLIC_URL is invalid \(must be an origin/],
    ["OPENAI_REALTIME_URL", "https://api.openai.com/v1/realtime", /OPENAI_REALTIME_URL is invalid/],
    ["OPENAI_REALTIME_URL", "wss://x/v1/realtime?model=a", /OPENAI_REALTIME_URL is invalid/],
    ["TWILIO_ACCOUNT_SID", "SK123", /TWILIO_ACCOUNT_SID is invalid.*AC followed/],
    ["TWILIO_VALIDATE_SIGNATURES", "maybe", /TWILIO_VALIDATE_SIGNATURES is invalid/],
    ["AUDIO_FORMAT", "opus", /AUDIO_FORMAT is invalid.*pcmu/],
    ["DATABASE_URL", "mysql://x", /DATABASE_URL is invalid.*sqlite:/],
    ["TRANSFER_NUMBER", "555-1234", /TRANSFER_NUMBER is invalid.*E\.164/],
    ["SMS_FROM", "+0123", /SMS_FROM is invalid/],
    ["LOG_LEVEL", "loud", /LOG_LEVEL is invalid/],
    ["LOG_FORMAT", "xml", /LOG_FORMAT is invalid/],
    ["MAX_CALLS", "0", /MAX_CALLS is invalid/],
    ["MAX_CALL_SECONDS", "5", /MAX_CALL_SECONDS is invalid/],
    ["DRAIN_SECONDS", "-1", /DRAIN_SECONDS is invalid/],
    ["IDLE_CHECKIN_SECONDS", "0", /IDLE_CHECKIN_SECONDS is invalid/],
    ["IDLE_HANGUP_SECONDS", "x", /IDLE_HANGUP_SECONDS is invalid/],
    ["VAD_TYPE", "webrtc", /VAD_TYPE is invalid/],
    ["VAD_THRESHOLD", "1.5", /VAD_THRESHOLD is invalid/],
    ["VAD_PREFIX_PADDING_MS", "-3", /VAD_PREFIX_PADDING_MS is invalid/],
    ["VAD_SILENCE_MS", "lots", /VAD_SILENCE_MS is invalid/],
    ["VAD_EAGERNESS", "eager", /VAD_EAGERNESS is invalid/],
  ];
  for (const [name, value, pattern] of cases) {
    const problems = problemsFor({ ...REQUIRED, [name]: value });
    assert.equal(problems.length, 1, `${name}=${value}: ${problems.join("; ")}`);
    assert.match(problems[0], pattern, `${name}=${value}`);
  }
});

Deno.test("config: several problems are reported together, one per variable", () => {
  const problems = problemsFor({ PORT: "x", AUDIO_FORMAT: "mp3", OPENAI_API_KEY: "k" });
  assert.equal(problems.length, 4);
  assert.deepEqual(
    problems.map((p) => p.split(" ")[0]).sort(),
    ["AUDIO_FORMAT", "PORT", "PUBLIC_URL", "TWILIO_AUTH_TOKEN"],
  );
});

Deno.test("config: idle hang-up must come after the idle check-in", () => {
  const problems = problemsFor({
    ...REQUIRED,
    IDLE_CHECKIN_SECONDS: "30",
    IDLE_HANGUP_SECONDS: "30",
  });
  assert.match(problems[0], /IDLE_HANGUP_SECONDS \(30\) must be greater/);
});

Deno.test("config: TWILIO_VALIDATE_SIGNATURES=false is refused for a public URL unless forced", () => {
  const off = { ...REQUIRED, TWILIO_VALIDATE_SIGNATURES: "false" };
  const [problem] = problemsFor(off);
  assert.match(problem, /TWILIO_VALIDATE_SIGNATURES=false is refused for the public URL/);
  assert.match(problem, /TWILIO_ALLOW_UNSIGNED=true/);
  assert.equal(
    loadConfig({ ...off, TWILIO_ALLOW_UNSIGNED: "true" }).twilio.validateSignatures,
    false,
    "forced explicitly",
  );
  for (const local of ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"]) {
    assert.equal(loadConfig({ ...off, PUBLIC_URL: local }).twilio.validateSignatures, false);
  }
});

Deno.test("config: loopback http PUBLIC_URL is allowed for local development", () => {
  assert.equal(
    loadConfig({ ...REQUIRED, PUBLIC_URL: "http://127.0.0.1:8080" }).publicUrl,
    "http://127.0.0.1:8080",
  );
});

Deno.test("config: .env values fill in, the real environment wins", () => {
  const merged = mergeEnv(
    { PORT: "9999", OPENAI_API_KEY: "from-env" },
    'PORT=1234\nOPENAI_API_KEY=from-file\nPUBLIC_URL="https://a.example.com"\n# comment\n',
  );
  assert.equal(merged.PORT, "9999");
  assert.equal(merged.OPENAI_API_KEY, "from-env");
  assert.equal(merged.PUBLIC_URL, "https://a.example.com");
  assert.deepEqual(mergeEnv({ A: "1" }, undefined), { A: "1" });
});

Deno.test("config: secrets never appear in the loggable form", () => {
  const c = loadConfig({
    ...REQUIRED,
    DATABASE_URL: "postgres://app:hunter2@db:5432/agent",
  });
  const text = JSON.stringify(redactConfig(c));
  assert.doesNotMatch(text, /sk-test-secret/);
  assert.doesNotMatch(text, /twilio-secret-token/);
  assert.doesNotMatch(text, /hunter2/);
  assert.match(text, /postgres:\/\/app:\[redacted\]@db:5432\/agent/);
});

Deno.test("config: secrets never appear in error messages", () => {
  let message = "";
  try {
    loadConfig({ ...REQUIRED, PORT: "bad", OPENAI_API_KEY: "sk-visible?" });
  } catch (e) {
    message = (e as Error).message;
  }
  assert.doesNotMatch(message, /sk-visible/);
  assert.doesNotMatch(message, /twilio-secret-token/);
});

Deno.test("config: transcription model and reasoning effort; a bad effort is a clear error", () => {
  const c = loadConfig({
    ...REQUIRED,
    OPENAI_TRANSCRIPTION_MODEL: "gpt-live-transcribe",
    OPENAI_REASONING_EFFORT: "low",
  });
  assert.equal(c.openai.transcriptionModel, "gpt-live-transcribe");
  assert.equal(c.openai.reasoningEffort, "low");
  assert.throws(
    () => loadConfig({ ...REQUIRED, OPENAI_REASONING_EFFORT: "extreme" }),
    /OPENAI_REASONING_EFFORT.*minimal, low, medium, high or xhigh/s,
  );
});

Deno.test("config: the model socket's client is npm ws unless builtin is asked for; a bad one is a clear error", () => {
  assert.equal(loadConfig(REQUIRED).openai.webSocketClient, "ws");
  assert.equal(
    loadConfig({ ...REQUIRED, OPENAI_WEBSOCKET_CLIENT: "builtin" }).openai.webSocketClient,
    "builtin",
  );
  assert.throws(
    () => loadConfig({ ...REQUIRED, OPENAI_WEBSOCKET_CLIENT: "deno" }),
    /OPENAI_WEBSOCKET_CLIENT.*ws \(npm ws, TCP_NODELAY on\) or builtin/s,
  );
});

Deno.test("config: a deprecated model gets one loud warning with its shutdown date", () => {
  const current = warnDeprecatedModels(loadConfig(REQUIRED));
  assert.deepEqual(current, [], "the defaults are current models");
  const old = warnDeprecatedModels(loadConfig({
    ...REQUIRED,
    OPENAI_REALTIME_MODEL: "gpt-realtime-mini-2025-12-15",
    OPENAI_TRANSCRIPTION_MODEL: "gpt-4o-mini-transcribe",
  }));
  assert.deepEqual(old.map((d) => [d.model, d.shutdown]), [
    ["gpt-realtime-mini-2025-12-15", "2027-01-20"],
    ["gpt-4o-mini-transcribe", "2027-02-26"],
  ]);
  for (const model of ["gpt-realtime", "gpt-realtime-2025-08-28", "gpt-audio-mini", "whisper-1"]) {
    assert.ok(deprecationOf(model), model);
  }
  for (const model of ["gpt-realtime-2.1", "gpt-realtime-2.1-mini", "gpt-transcribe"]) {
    assert.equal(deprecationOf(model), undefined, model);
  }
});
