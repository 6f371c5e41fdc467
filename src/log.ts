/**
 * Logging for the service, built on LogTape.
 *
 * Operators get one JSON object per line (the default when stdout is not a TTY);
 * developers at a terminal get pretty lines. Every record carries its category and
 * whatever context was attached, notably `callSid` for anything that belongs to a call.
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
  reset,
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
}

/**
 * Configures LogTape once for the process. Safe to call again (e.g. in tests):
 * the previous configuration is replaced.
 */
export async function setupLogging(options: LoggingOptions): Promise<void> {
  await reset();
  const formatter = options.format === "json"
    ? getJsonLinesFormatter({
      properties: "flatten",
      categorySeparator: ".",
      message: "template",
    })
    : getTextFormatter({ timestamp: "time", category: "." });
  await configure({
    reset: true,
    sinks: { console: getConsoleSink({ formatter }) },
    loggers: [
      { category: [ROOT_CATEGORY], lowestLevel: options.level, sinks: ["console"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
    ],
  });
}

/**
 * Returns the logger for one part of the service, e.g. `logger("twilio", "media")`.
 * Attach call context with `logger(...).with({ callSid })`.
 */
export function logger(...category: string[]): Logger {
  return getLogger([ROOT_CATEGORY, ...category]);
}

export type { Logger, LogLevel };
