/**
 * Logging for the service, built on LogTape.
 *
 * Operators get one JSON object per line (the default when stdout is not a TTY): the
 * rendered `message` (`incoming call CA…`, values in place) and every property as a
 * top-level key, notably `callSid` for anything that belongs to a call. Developers at a
 * terminal get pretty lines that show the call id too:
 *
 * ```
 * 12:00:01.234 [INF] voice-agent.call CA0123…: tool get_slots ok in 4 ms
 * ```
 *
 * @module
 */
import {
  configure,
  getConsoleSink,
  getJsonLinesFormatter,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogLevel,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";

/** The root category all of the service's loggers live under. */
export const ROOT_CATEGORY = "voice-agent";

/** How log records are written. */
export type LogFormat = "json" | "pretty";

/** Options for {@linkcode setupLogging}. */
export interface LoggingOptions {
  /** Lowest level written. */
  level: LogLevel;
  /** Line format. */
  format: LogFormat;
  /**
   * Where each formatted line goes (without its newline); default the console (stdout,
   * warnings and errors on stderr). Tests and the demo collect lines with it.
   */
  write?: (line: string) => void;
}

/** Renders the message with its values in place; strings bare, control characters escaped. */
const renderMessage = getTextFormatter({ value: "bare", format: ({ message }) => message });

const jsonFormatter = getJsonLinesFormatter({
  properties: "flatten",
  categorySeparator: ".",
  message: "rendered",
});

/** Keys of a JSON line that belong to the line itself; a property never replaces them. */
const RESERVED_KEYS = new Set(["@timestamp", "level", "message", "logger"]);

/**
 * One JSON object: `@timestamp`, `level`, `message` (rendered), `logger`, then the
 * properties. A property named like one of the first four (`{ message }` is a common
 * one) is written as `property.<name>`, so it never replaces the line's own field.
 */
export function formatJsonLine(record: LogRecord): string {
  const message = renderMessage(record).replace(/\r?\n$/, "");
  let properties = record.properties;
  if (Object.keys(properties).some((key) => RESERVED_KEYS.has(key))) {
    properties = Object.fromEntries(
      Object.entries(properties).map((
        [key, value],
      ) => [RESERVED_KEYS.has(key) ? `property.${key}` : key, value]),
    );
  }
  return jsonFormatter({ ...record, message: [message], properties }).replace(/\r?\n$/, "");
}

const textFormatter = getTextFormatter({
  timestamp: "time",
  category: ".",
  value: "bare",
  format: ({ timestamp, level, category, message, record }) => {
    const callSid = record.properties.callSid;
    const call = typeof callSid === "string" && callSid !== "" ? ` ${callSid}` : "";
    return `${timestamp} [${level}] ${category}${call}: ${message}`;
  },
});

/** A terminal line: time, level, category, the call id when there is one, the message. */
export function formatPrettyLine(record: LogRecord): string {
  return textFormatter(record).replace(/\r?\n$/, "");
}

/**
 * Configures LogTape once for the process. Safe to call again (e.g. in tests):
 * the previous configuration is replaced.
 */
export async function setupLogging(options: LoggingOptions): Promise<void> {
  await reset();
  const format = options.format === "json" ? formatJsonLine : formatPrettyLine;
  const write = options.write;
  const sink: Sink = write
    ? (record) => write(format(record))
    : getConsoleSink({ formatter: format });
  await configure({
    reset: true,
    sinks: { out: sink },
    loggers: [
      { category: [ROOT_CATEGORY], lowestLevel: options.level, sinks: ["out"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["out"] },
    ],
  });
}

/** Stops logging (tests restore the unconfigured state with it). */
export async function resetLogging(): Promise<void> {
  await reset();
}

/**
 * A value from a peer, cut to `max` characters for a log line: whoever sends a 60 KB
 * CallSid gets 80 characters of it logged, and the length.
 *
 * @example
 * ```ts
 * clip("CA" + "x".repeat(60_000)); // "CAxxxx…(+59922 chars)"
 * ```
 */
export function clip(value: unknown, max = 80): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text = typeof value === "string"
    ? value
    : Array.isArray(value)
    ? value.join(",")
    : String(value);
  return text.length <= max ? text : `${text.slice(0, max)}…(+${text.length - max} chars)`;
}

/**
 * Lets a kind of warning through at most `burst` times per `windowMs`; the lines held back
 * are counted and reported with the next line let through. For lines anyone on the
 * internet can cause (a rejected webhook), so they cannot flood the log.
 *
 * @example
 * ```ts
 * const log = logger("twilio");
 * const limiter = new LogLimiter({ burst: 10, windowMs: 60_000 });
 * const { write, suppressed } = limiter.take();
 * if (write) log.warn("rejected request ({suppressed} similar suppressed)", { suppressed });
 * ```
 */
export class LogLimiter {
  readonly #burst: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  #windowStart = -Infinity;
  #written = 0;
  #suppressed = 0;

  /** @param options lines per window, the window, and a clock (ms; tests) */
  constructor(options: { burst: number; windowMs: number; now?: () => number }) {
    this.#burst = options.burst;
    this.#windowMs = options.windowMs;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Whether to write a line now, and how many were held back since the last one written
   * (reset once reported).
   */
  take(): { write: boolean; suppressed: number } {
    const now = this.#now();
    if (now - this.#windowStart >= this.#windowMs) {
      this.#windowStart = now;
      this.#written = 0;
    }
    if (this.#written >= this.#burst) {
      this.#suppressed++;
      return { write: false, suppressed: this.#suppressed };
    }
    this.#written++;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return { write: true, suppressed };
  }
}

/**
 * Returns the logger for one part of the service, e.g. `logger("twilio", "media")`.
 * Attach call context with `logger(...).with({ callSid })`.
 */
export function logger(...category: string[]): Logger {
  return getLogger([ROOT_CATEGORY, ...category]);
}

export type { Logger, LogLevel };
