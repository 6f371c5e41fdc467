/**
 * The tool registry: each tool the model can call is a zod schema, a handler and a
 * timeout. The JSON Schema the session advertises is generated from the zod schema, and
 * the same schema validates what the model sends back, so the two can never disagree.
 *
 * @module
 */
import { z } from "zod";
import { type Clock, raceTimer, systemClock } from "../clock.ts";
import { cleanText } from "../booking/sanitize.ts";
import { logger } from "../log.ts";

const log = logger("tools");

/** Longest arguments text accepted from the model (JSON); longer is refused unparsed. */
export const MAX_ARGUMENTS_CHARS = 16_384;

/**
 * A string argument from the model: at most `max` characters (the JSON Schema says so, and
 * longer is refused), control and invisible formatting characters removed, trimmed, and
 * not empty after that.
 */
export function modelText(max: number) {
  return z.string().max(max).transform((s) => cleanText(s, { max, oneLine: true })).pipe(
    z.string().min(1),
  );
}

/** What a handler's race against its deadline yields when the deadline wins. */
const TIMED_OUT = Symbol("timed out");

/** What a handler gets besides its arguments. */
export interface ToolContext {
  /** Twilio CallSid of the call the tool runs for. */
  callSid: string;
  /** The caller's number in E.164 form when Twilio gave one. */
  callerNumber?: string;
  /** Aborted when the tool times out or the call ends. */
  signal: AbortSignal;
}

/** One tool: name, description for the model, argument schema, handler, timeout. */
export interface Tool<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  parameters: S;
  /** Handler deadline; past it the model gets a `timeout` error result. */
  timeoutMs: number;
  /**
   * What the model is told when the handler misses its deadline. Default: it did not
   * finish, offer to try again. A tool that changes state says the outcome is unknown.
   */
  timeoutMessage?: string;
  handler(args: z.output<S>, ctx: ToolContext): Promise<unknown>;
}

/** Defines a tool with its argument types inferred from the schema. */
export function defineTool<S extends z.ZodType>(tool: Tool<S>): Tool {
  return tool as unknown as Tool;
}

/** A function tool as the Realtime session expects it. */
export interface ToolDefinition {
  type: "function";
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

/** Error codes a tool result can carry back to the model. */
export type ToolErrorCode = "unknown_tool" | "invalid_arguments" | "timeout" | "failed";

/** The outcome of one tool call, as recorded and as returned to the model. */
export type ToolOutcome =
  | { ok: true; output: unknown; durationMs: number }
  | {
    ok: false;
    error: { code: ToolErrorCode; message: string; issues?: string[] };
    durationMs: number;
  };

/** Converts a zod schema to the JSON Schema object a function tool advertises. */
export function toParametersSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: "input" }) as Record<
    string,
    unknown
  >;
  return rest;
}

/** Holds the tools of one call and runs them safely. */
export class ToolRegistry {
  #tools = new Map<string, Tool>();
  readonly #clock: Clock;

  /** @param clock times handlers and their deadlines (default: the system clock) */
  constructor(tools: Tool[], clock: Clock = systemClock) {
    this.#clock = clock;
    for (const tool of tools) {
      if (this.#tools.has(tool.name)) throw new Error(`duplicate tool ${tool.name}`);
      this.#tools.set(tool.name, tool);
    }
  }

  /** Tool names, in registration order. */
  get names(): string[] {
    return [...this.#tools.keys()];
  }

  /** The function definitions for `session.update`. */
  definitions(): ToolDefinition[] {
    return [...this.#tools.values()].map((t) => ({
      type: "function",
      name: t.name,
      description: t.description,
      parameters: toParametersSchema(t.parameters),
    }));
  }

  /**
   * Runs a tool for the model: parses the JSON arguments, validates them, runs the
   * handler under its timeout. Never throws: every failure becomes an error outcome
   * the model can read and recover from. Internal errors reach the model as a generic
   * message (it may read it aloud); the detail goes to the log.
   */
  async invoke(
    name: string,
    argumentsJson: string,
    ctx: Omit<ToolContext, "signal"> & { signal?: AbortSignal },
  ): Promise<ToolOutcome> {
    const clock = this.#clock;
    const started = clock.now();
    const elapsed = () => Math.round(clock.now() - started);
    const tool = this.#tools.get(name);
    if (!tool) {
      return {
        ok: false,
        error: {
          code: "unknown_tool",
          message: `no tool named ${cleanText(name, { max: 64, oneLine: true })}; available: ${
            this.names.join(", ")
          }`,
        },
        durationMs: elapsed(),
      };
    }
    if (argumentsJson.length > MAX_ARGUMENTS_CHARS) {
      return {
        ok: false,
        error: {
          code: "invalid_arguments",
          message: `arguments are too long (at most ${MAX_ARGUMENTS_CHARS} characters)`,
        },
        durationMs: elapsed(),
      };
    }
    let raw: unknown;
    try {
      raw = argumentsJson.trim() === "" ? {} : JSON.parse(argumentsJson);
    } catch {
      return {
        ok: false,
        error: { code: "invalid_arguments", message: "arguments are not valid JSON" },
        durationMs: elapsed(),
      };
    }
    const parsed = tool.parameters.safeParse(raw);
    if (!parsed.success) {
      return {
        ok: false,
        error: {
          code: "invalid_arguments",
          message: `invalid arguments for ${name}; fix them and call again`,
          issues: parsed.error.issues.slice(0, 10).map((i) =>
            cleanText(`${i.path.join(".") || "(root)"}: ${i.message}`, { max: 200, oneLine: true })
          ),
        },
        durationMs: elapsed(),
      };
    }
    const controller = new AbortController();
    const onOuterAbort = () => controller.abort(ctx.signal?.reason);
    ctx.signal?.addEventListener("abort", onOuterAbort, { once: true });
    try {
      const result = await raceTimer(
        clock,
        tool.handler(parsed.data, { ...ctx, signal: controller.signal }),
        tool.timeoutMs,
        () => TIMED_OUT,
      );
      if (result === TIMED_OUT) {
        controller.abort(new Error("tool timed out"));
        return {
          ok: false,
          error: {
            code: "timeout",
            message: tool.timeoutMessage ??
              `${name} did not finish within ${tool.timeoutMs} ms; tell the caller and offer to try again`,
          },
          durationMs: elapsed(),
        };
      }
      return { ok: true, output: result, durationMs: elapsed() };
    } catch (error) {
      log.error("tool {tool} failed: {error}", {
        callSid: ctx.callSid,
        tool: name,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      return {
        ok: false,
        error: {
          code: "failed",
          message: `${name} could not be completed because of an internal problem. ` +
            "Apologise, and offer to try again or to take a message.",
        },
        durationMs: elapsed(),
      };
    } finally {
      ctx.signal?.removeEventListener("abort", onOuterAbort);
    }
  }
}

/** Serializes an outcome as the `output` string of a `function_call_output` item. */
export function outcomeToOutput(outcome: ToolOutcome): string {
  return JSON.stringify(outcome.ok ? outcome.output : { error: outcome.error });
}
