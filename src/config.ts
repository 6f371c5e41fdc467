/**
 * Service configuration: read from the environment (plus an optional `.env` file),
 * validated by one zod schema into a typed {@linkcode Config}.
 *
 * A bad or missing value never produces a stack trace: {@linkcode loadConfig} throws a
 * {@linkcode ConfigError} whose message lists every problem and how to fix it.
 *
 * @module
 */
import { z } from "zod";
import { parseEnv } from "node:util";
import { resolve } from "node:path";
import { E164_PATTERN } from "./phone.ts";
import {
  DEFAULT_REALTIME_MODEL,
  DEFAULT_TRANSCRIPTION_MODEL,
  REASONING_EFFORTS,
  type ReasoningEffort,
} from "./realtime/models.ts";
import { redactDatabaseUrl } from "./booking/store.ts";
import type { WebSocketClient } from "./realtime/node_ws.ts";

const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;

/** Hints shown next to a variable when its value is missing or wrong. */
const HINTS: Record<string, string> = {
  PORT: "a TCP port number between 1 and 65535, e.g. 8080",
  HOST:
    "an address of this machine to listen on: 127.0.0.1 (loopback, behind a reverse proxy) or 0.0.0.0 (every interface)",
  PUBLIC_URL:
    "the public https origin Twilio reaches, e.g. https://voice.example.com (no path, no query)",
  OPENAI_API_KEY: "your OpenAI API key (sk-...)",
  OPENAI_REALTIME_URL:
    "a ws:// or wss:// URL without a query, e.g. wss://api.openai.com/v1/realtime",
  OPENAI_REALTIME_MODEL: "a Realtime model name, e.g. gpt-realtime-2.1",
  OPENAI_TRANSCRIPTION_MODEL: "an input transcription model name, e.g. gpt-transcribe",
  OPENAI_REASONING_EFFORT: "minimal, low, medium, high or xhigh (2.x models), or unset",
  OPENAI_VOICE: "a Realtime voice, e.g. marin",
  OPENAI_WEBSOCKET_CLIENT: "ws (npm ws, TCP_NODELAY on) or builtin (Deno's WebSocket)",
  TWILIO_AUTH_TOKEN: "the auth token of your Twilio account (Console > Account info)",
  TWILIO_ACCOUNT_SID: "your Twilio Account SID: AC followed by 32 hex characters",
  TWILIO_VALIDATE_SIGNATURES:
    "true or false (false only for local development, with a loopback PUBLIC_URL)",
  TWILIO_ALLOW_UNSIGNED:
    "true only to force TWILIO_VALIDATE_SIGNATURES=false on a public URL (never in production)",
  MEDIA_TIMEOUT_SECONDS:
    "seconds without media from Twilio before a call's stream is ended, 1 to 600, e.g. 10",
  AUDIO_FORMAT: "pcmu (pass-through) or pcm16 (transcode)",
  DATABASE_URL: "sqlite:PATH (e.g. sqlite:./data/agent.db) or postgres://user@host:5432/db",
  BUSINESS_FILE: "path to a business profile JSON file",
  TRANSFER_NUMBER: "an E.164 phone number, e.g. +15551234567",
  SMS_FROM: "an E.164 phone number of your Twilio account, e.g. +15551234567",
  LOG_LEVEL: LOG_LEVELS.join(", "),
  LOG_FORMAT: "json or pretty",
  MAX_CALLS: "a positive whole number of concurrent calls, e.g. 50",
  MAX_CALL_SECONDS: "a positive whole number of seconds, e.g. 1800",
  DRAIN_SECONDS: "a whole number of seconds to let calls finish on shutdown, e.g. 30",
  IDLE_CHECKIN_SECONDS: "seconds of caller silence before the agent checks in, e.g. 15",
  IDLE_HANGUP_SECONDS: "seconds of caller silence before the agent ends the call, e.g. 45",
  VAD_TYPE: "server_vad or semantic_vad",
  VAD_THRESHOLD: "a number between 0 and 1, e.g. 0.5",
  VAD_PREFIX_PADDING_MS: "milliseconds, e.g. 300",
  VAD_SILENCE_MS: "milliseconds, e.g. 500",
  VAD_EAGERNESS: "low, medium, high or auto",
  CONSOLE_PASSWORD: "a password of at least 12 characters for the operator console",
  CONSOLE_PASSWORD_HASH:
    "the output of `voice-agent console-password` (scrypt:N:r:p:salt:key), instead of CONSOLE_PASSWORD",
  CONSOLE_SESSION_HOURS: "hours a console login lasts, 1 to 168, e.g. 12",
  METRICS_TOKEN: "a bearer token of at least 16 characters that GET /metrics must carry",
  REMINDERS: "call, sms or off",
  REMINDER_HOURS_BEFORE: "whole hours before the appointment, 1 to 720, e.g. 24",
  REMINDER_RETRY_MINUTES: "minutes before calling again after no answer, 1 to 1440, e.g. 60",
  OUTBOUND_CALLS_PER_MINUTE: "reminder calls placed per minute at most, 1 to 6000, e.g. 6",
  TWILIO_FROM: "an E.164 phone number of your Twilio account that places calls, e.g. +15551234567",
  RECORD_CALLS: "on or off (off by default: tell callers, and check the consent law that applies)",
  RECORDINGS_DIR: "a directory for call recordings, e.g. ./data/recordings",
  RECORDING_RETENTION_DAYS: "whole days to keep recordings, 1 to 36500, e.g. 30",
  SUMMARY: "on or off",
  SUMMARY_TIMEOUT_SECONDS: "seconds the after-call summary may take, 1 to 120, e.g. 10",
};

const optionalText = z.string().trim().transform((s) => s === "" ? undefined : s).optional();
const int = (min: number, max: number, fallback: number) =>
  z.string().trim().default(String(fallback)).pipe(
    z.coerce.number<string>().int().min(min).max(max),
  );
const bool = (fallback: boolean) =>
  z.string().trim().toLowerCase().default(String(fallback)).pipe(
    z.enum(["true", "false", "1", "0", "yes", "no"]),
  ).transform((s) => s === "true" || s === "1" || s === "yes");
/** `on`/`off` (also true/false, yes/no, 1/0), normalized to `on` or `off`. */
const onOff = (fallback: "on" | "off") =>
  z.string().trim().toLowerCase().default(fallback).pipe(
    z.enum(["on", "off", "true", "false", "1", "0", "yes", "no"]),
  ).transform((s) => s === "on" || s === "true" || s === "1" || s === "yes" ? "on" : "off");
const e164 = optionalText.pipe(z.string().regex(E164_PATTERN).optional());

const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"];

/** Whether an origin is on this machine only (local development). */
export function isLoopbackOrigin(origin: string): boolean {
  return LOOPBACK_HOSTS.includes(new URL(origin).hostname);
}

/** Origin that must be https, except for loopback hosts during local development. */
const publicUrl = z.string().trim().pipe(z.url()).transform((raw, ctx) => {
  const url = new URL(raw);
  const loopback = LOOPBACK_HOSTS.includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    ctx.addIssue({ code: "custom", message: "must use https://" });
  }
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    ctx.addIssue({ code: "custom", message: "must be an origin only (no path, query or #)" });
  }
  return url.origin;
});

const realtimeUrl = z.string().trim().pipe(z.url()).refine((raw) => {
  const url = new URL(raw);
  return (url.protocol === "wss:" || url.protocol === "ws:") && !url.search;
}, "must be a ws:// or wss:// URL without a query string");

const databaseUrl = z.string().trim().refine(
  (s) => /^sqlite:.+/.test(s) || /^postgres(ql)?:\/\/.+/.test(s),
  "must start with sqlite: or postgres://",
);

/** The one schema all environment variables go through. */
export const EnvSchema = z.object({
  PORT: int(1, 65535, 8080),
  // Loopback by default: TLS ends at a reverse proxy in front (README, "Reverse proxy and TLS").
  HOST: z.string().trim().min(1).default("127.0.0.1"),
  PUBLIC_URL: publicUrl,
  OPENAI_API_KEY: z.string().trim().min(1),
  OPENAI_REALTIME_URL: realtimeUrl.default("wss://api.openai.com/v1/realtime"),
  OPENAI_REALTIME_MODEL: z.string().trim().min(1).default(DEFAULT_REALTIME_MODEL),
  OPENAI_TRANSCRIPTION_MODEL: z.string().trim().min(1).default(DEFAULT_TRANSCRIPTION_MODEL),
  OPENAI_REASONING_EFFORT: optionalText.pipe(z.enum(REASONING_EFFORTS).optional()),
  OPENAI_VOICE: z.string().trim().min(1).default("marin"),
  // The values of `WebSocketClient` (src/realtime/node_ws.ts, not imported here: it is
  // loaded only where sockets are opened). `ws` sets TCP_NODELAY (BENCHMARKS.md).
  OPENAI_WEBSOCKET_CLIENT: z.enum(["ws", "builtin"]).default("ws"),
  TWILIO_AUTH_TOKEN: z.string().trim().min(1),
  TWILIO_ACCOUNT_SID: optionalText.pipe(z.string().regex(/^AC[0-9a-fA-F]{32}$/).optional()),
  TWILIO_VALIDATE_SIGNATURES: bool(true),
  TWILIO_ALLOW_UNSIGNED: bool(false),
  AUDIO_FORMAT: z.enum(["pcmu", "pcm16"]).default("pcmu"),
  DATABASE_URL: databaseUrl.default("sqlite:./data/agent.db"),
  BUSINESS_FILE: optionalText,
  TRANSFER_NUMBER: e164,
  SMS_FROM: e164,
  LOG_LEVEL: z.string().trim().toLowerCase().transform((s) => s === "warn" ? "warning" : s)
    .pipe(z.enum(LOG_LEVELS)).default("info"),
  LOG_FORMAT: z.enum(["json", "pretty"]).optional(),
  MAX_CALLS: int(1, 100_000, 50),
  MAX_CALL_SECONDS: int(10, 86_400, 1800),
  DRAIN_SECONDS: int(0, 3600, 30),
  IDLE_CHECKIN_SECONDS: int(1, 3600, 15),
  IDLE_HANGUP_SECONDS: int(1, 3600, 45),
  MEDIA_TIMEOUT_SECONDS: int(1, 600, 10),
  VAD_TYPE: z.enum(["server_vad", "semantic_vad"]).default("server_vad"),
  VAD_THRESHOLD: z.string().trim().default("0.5").pipe(z.coerce.number<string>().min(0).max(1)),
  VAD_PREFIX_PADDING_MS: int(0, 5000, 300),
  VAD_SILENCE_MS: int(0, 10_000, 500),
  VAD_EAGERNESS: z.enum(["low", "medium", "high", "auto"]).default("auto"),
  CONSOLE_PASSWORD: optionalText.pipe(z.string().min(12).optional()),
  CONSOLE_PASSWORD_HASH: optionalText.pipe(
    z.string().regex(/^scrypt:\d+:\d+:\d+:[A-Za-z0-9_-]{16,}:[A-Za-z0-9_-]{32,}$/).optional(),
  ),
  CONSOLE_SESSION_HOURS: int(1, 168, 12),
  METRICS_TOKEN: optionalText.pipe(z.string().min(16).optional()),
  REMINDERS: z.string().trim().toLowerCase().pipe(z.enum(["call", "sms", "off"])).default("off"),
  REMINDER_HOURS_BEFORE: int(1, 720, 24),
  REMINDER_RETRY_MINUTES: int(1, 1440, 60),
  OUTBOUND_CALLS_PER_MINUTE: int(1, 6000, 6),
  TWILIO_FROM: e164,
  RECORD_CALLS: onOff("off"),
  RECORDINGS_DIR: z.string().trim().min(1).default("./data/recordings"),
  RECORDING_RETENTION_DAYS: int(1, 36_500, 30),
  SUMMARY: onOff("on"),
  SUMMARY_TIMEOUT_SECONDS: int(1, 120, 10),
});

type Env = z.output<typeof EnvSchema>;

/** Validated, typed configuration of the whole service. */
export interface Config {
  port: number;
  host: string;
  /** Public https origin without trailing slash, e.g. `https://voice.example.com`. */
  publicUrl: string;
  openai: {
    apiKey: string;
    /** Base URL; the connection appends `?model=`. */
    realtimeUrl: string;
    model: string;
    /** Input transcription model. */
    transcriptionModel: string;
    /** `session.reasoning.effort`, sent only when set. */
    reasoningEffort?: ReasoningEffort;
    voice: string;
    /** Client of the model socket: npm `ws` or Deno's built-in `WebSocket`. */
    webSocketClient: WebSocketClient;
  };
  twilio: {
    authToken: string;
    accountSid?: string;
    validateSignatures: boolean;
  };
  audioFormat: "pcmu" | "pcm16";
  databaseUrl: string;
  /** Business profile path; undefined means the bundled example. */
  businessFile?: string;
  transferNumber?: string;
  smsFrom?: string;
  log: { level: Env["LOG_LEVEL"]; format: "json" | "pretty" };
  limits: {
    maxCalls: number;
    maxCallSeconds: number;
    drainSeconds: number;
    idleCheckinSeconds: number;
    idleHangupSeconds: number;
    /** A media stream silent this long is ended (Twilio sends a frame every 20 ms). */
    mediaTimeoutSeconds: number;
  };
  vad:
    | { type: "server_vad"; threshold: number; prefixPaddingMs: number; silenceDurationMs: number }
    | { type: "semantic_vad"; eagerness: "low" | "medium" | "high" | "auto" };
  /** Reminder calls and texts before appointments (`REMINDERS`, off by default). */
  reminders: {
    mode: "call" | "sms" | "off";
    hoursBefore: number;
    retryMinutes: number;
    callsPerMinute: number;
    /** Number calls are placed from: `TWILIO_FROM`, else `SMS_FROM`. */
    callFrom?: string;
    /**
     * Sender of reminder texts: `SMS_FROM` (with `REMINDERS=sms`, else `TWILIO_FROM`). Unset
     * with `REMINDERS=call`: no text when a call cannot reach the customer.
     */
    smsFrom?: string;
  };
  /** The operator console at `/console`; off (undefined) unless a password is configured. */
  console?: ConsoleConfig;
  /** Bearer token `GET /metrics` requires, when set. */
  metricsToken?: string;
  /** Call recordings (`RECORD_CALLS`, off by default: consent laws differ). */
  recording: RecordingConfig;
  /** The after-call summary and promise check (`SUMMARY`). */
  summary: { enabled: boolean; timeoutSeconds: number };
}

/** Call recording settings (`RECORD_CALLS`, `RECORDINGS_DIR`, `RECORDING_RETENTION_DAYS`). */
export interface RecordingConfig {
  enabled: boolean;
  /** Absolute directory the WAV files go to. */
  dir: string;
  /** Recordings older than this are deleted by the periodic sweep. */
  retentionDays: number;
}

/** Operator console settings (`CONSOLE_*`). Exactly one of `password`, `passwordHash` is set. */
export interface ConsoleConfig {
  /** Plain password (`CONSOLE_PASSWORD`). */
  password?: string;
  /** scrypt hash (`CONSOLE_PASSWORD_HASH`). */
  passwordHash?: string;
  /** How long a login lasts. */
  sessionHours: number;
}

/** Thrown by {@linkcode loadConfig}; `message` is ready to print to an operator. */
export class ConfigError extends Error {
  /** One line per problem, `NAME: what is wrong (what to set)`. */
  readonly problems: string[];
  constructor(problems: string[]) {
    super(
      `Configuration error: ${problems.length} problem${problems.length === 1 ? "" : "s"}\n` +
        problems.map((p) => `  - ${p}`).join("\n") +
        "\nSet these in the environment or in a .env file in the working directory.",
    );
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** Options for {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /** Whether stdout is a terminal (decides the default log format). */
  isTty?: boolean;
}

/**
 * Validates an environment map into a {@linkcode Config}.
 *
 * @param env variables, e.g. `mergeEnv(Deno.env.toObject(), dotenvText)`
 * @throws {ConfigError} listing every problem at once
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  options: LoadConfigOptions = {},
): Config {
  // An empty value counts as unset, so `PORT=` in a .env file falls back to the default.
  const present = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ""),
  );
  const result = EnvSchema.safeParse(present);
  if (!result.success) {
    const problems = new Map<string, string>();
    for (const issue of result.error.issues) {
      const name = String(issue.path[0] ?? "environment");
      if (problems.has(name)) continue;
      const missing = present[name] === undefined;
      const what = missing ? "is required but not set" : `is invalid (${issue.message})`;
      problems.set(name, `${name} ${what}; expected ${HINTS[name] ?? "a valid value"}`);
    }
    throw new ConfigError([...problems.values()]);
  }
  const e = result.data;
  if (e.IDLE_HANGUP_SECONDS <= e.IDLE_CHECKIN_SECONDS) {
    throw new ConfigError([
      `IDLE_HANGUP_SECONDS (${e.IDLE_HANGUP_SECONDS}) must be greater than IDLE_CHECKIN_SECONDS (${e.IDLE_CHECKIN_SECONDS})`,
    ]);
  }
  if (
    !e.TWILIO_VALIDATE_SIGNATURES && !isLoopbackOrigin(e.PUBLIC_URL) && !e.TWILIO_ALLOW_UNSIGNED
  ) {
    // Without signatures anyone who finds the URL can place calls (and spend model time).
    throw new ConfigError([
      `TWILIO_VALIDATE_SIGNATURES=false is refused for the public URL ${e.PUBLIC_URL}: anyone ` +
      "could place calls on the service. Keep it true (Twilio signs every request); switch it " +
      "off only with a loopback PUBLIC_URL (http://127.0.0.1:PORT) for local development, or " +
      "force it with TWILIO_ALLOW_UNSIGNED=true",
    ]);
  }
  if (e.CONSOLE_PASSWORD && e.CONSOLE_PASSWORD_HASH) {
    throw new ConfigError([
      "CONSOLE_PASSWORD and CONSOLE_PASSWORD_HASH are both set; set only one of them",
    ]);
  }
  const consolePassword = e.CONSOLE_PASSWORD || e.CONSOLE_PASSWORD_HASH
    ? {
      password: e.CONSOLE_PASSWORD,
      passwordHash: e.CONSOLE_PASSWORD_HASH,
      sessionHours: e.CONSOLE_SESSION_HOURS,
    }
    : undefined;
  const callFrom = e.TWILIO_FROM ?? e.SMS_FROM;
  if (e.REMINDERS !== "off") {
    const missing = [
      ...(e.TWILIO_ACCOUNT_SID ? [] : ["TWILIO_ACCOUNT_SID"]),
      ...(callFrom ? [] : ["TWILIO_FROM (or SMS_FROM)"]),
    ];
    if (missing.length > 0) {
      throw new ConfigError([
        `REMINDERS=${e.REMINDERS} needs ${missing.join(" and ")}; set ${
          missing.length === 1 ? "it" : "them"
        }, or set REMINDERS=off`,
      ]);
    }
  }
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: e.PUBLIC_URL,
    openai: {
      apiKey: e.OPENAI_API_KEY,
      realtimeUrl: e.OPENAI_REALTIME_URL,
      model: e.OPENAI_REALTIME_MODEL,
      transcriptionModel: e.OPENAI_TRANSCRIPTION_MODEL,
      reasoningEffort: e.OPENAI_REASONING_EFFORT,
      voice: e.OPENAI_VOICE,
      webSocketClient: e.OPENAI_WEBSOCKET_CLIENT,
    },
    twilio: {
      authToken: e.TWILIO_AUTH_TOKEN,
      accountSid: e.TWILIO_ACCOUNT_SID,
      validateSignatures: e.TWILIO_VALIDATE_SIGNATURES,
    },
    audioFormat: e.AUDIO_FORMAT,
    databaseUrl: e.DATABASE_URL,
    businessFile: e.BUSINESS_FILE,
    transferNumber: e.TRANSFER_NUMBER,
    smsFrom: e.SMS_FROM,
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT ?? (options.isTty ? "pretty" : "json") },
    limits: {
      maxCalls: e.MAX_CALLS,
      maxCallSeconds: e.MAX_CALL_SECONDS,
      drainSeconds: e.DRAIN_SECONDS,
      idleCheckinSeconds: e.IDLE_CHECKIN_SECONDS,
      idleHangupSeconds: e.IDLE_HANGUP_SECONDS,
      mediaTimeoutSeconds: e.MEDIA_TIMEOUT_SECONDS,
    },
    vad: e.VAD_TYPE === "semantic_vad" ? { type: "semantic_vad", eagerness: e.VAD_EAGERNESS } : {
      type: "server_vad",
      threshold: e.VAD_THRESHOLD,
      prefixPaddingMs: e.VAD_PREFIX_PADDING_MS,
      silenceDurationMs: e.VAD_SILENCE_MS,
    },
    console: consolePassword,
    metricsToken: e.METRICS_TOKEN,
    reminders: {
      mode: e.REMINDERS,
      hoursBefore: e.REMINDER_HOURS_BEFORE,
      retryMinutes: e.REMINDER_RETRY_MINUTES,
      callsPerMinute: e.OUTBOUND_CALLS_PER_MINUTE,
      callFrom,
      smsFrom: e.REMINDERS === "sms" ? e.SMS_FROM ?? e.TWILIO_FROM : e.SMS_FROM,
    },
    recording: {
      enabled: e.RECORD_CALLS === "on",
      dir: resolve(e.RECORDINGS_DIR),
      retentionDays: e.RECORDING_RETENTION_DAYS,
    },
    summary: { enabled: e.SUMMARY === "on", timeoutSeconds: e.SUMMARY_TIMEOUT_SECONDS },
  };
}

/**
 * Combines the real environment with the text of a `.env` file. The real environment
 * wins, so an operator can override a file value with `VAR=x ./voice-agent`.
 * (Unlike `process.loadEnvFile`, which overwrites variables already set.)
 */
export function mergeEnv(
  real: Record<string, string | undefined>,
  dotenvText: string | undefined,
): Record<string, string | undefined> {
  if (!dotenvText) return { ...real };
  const fromFile = parseEnv(dotenvText) as Record<string, string>;
  return { ...fromFile, ...real };
}

/** A copy of the config safe to log: secrets replaced by a short marker. */
export function redactConfig(config: Config): Record<string, unknown> {
  const mask = (s: string | undefined) => s === undefined ? undefined : `[redacted ${s.length}]`;
  return {
    ...config,
    openai: { ...config.openai, apiKey: mask(config.openai.apiKey) },
    twilio: { ...config.twilio, authToken: mask(config.twilio.authToken) },
    console: config.console && {
      ...config.console,
      password: mask(config.console.password),
      passwordHash: mask(config.console.passwordHash),
    },
    metricsToken: mask(config.metricsToken),
    databaseUrl: redactDatabaseUrl(config.databaseUrl),
  };
}
