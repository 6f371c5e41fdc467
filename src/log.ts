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

/** One JSON object: `@timestamp`, `level`, `message` (rendered), `logger`, then the properties. */
export function formatJsonLine(record: LogRecord): string {
  const message = renderMessage(record).replace(/\r?\n$/, "");
  return jsonFormatter({ ...record, message: [message] }).replace(/\r?\n$/, "");
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
 * Returns the logger for one part of the service, e.g. `logger("twilio", "media")`.
 * Attach call context with `logger(...).with({ callSid })`.
 */
export function logger(...category: string[]): Logger {
  return getLogger([ROOT_CATEGORY, ...category]);
}

export type { Logger, LogLevel };
