/**
 * The model's tool calls, run the way a call needs them run: collected per response and
 * run only once that response is done (and completed: a talked-over response's calls are
 * answered `not_run`), one response's calls at a time and in order, each result sent back
 * as a `function_call_output`, then one follow-up response. A slow tool gets a spoken
 * filler; once the call is ending, tools that change anything are refused.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { isoNow, type TimerGroup } from "../clock.ts";
import type { Clock } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import type { Metrics } from "../metrics.ts";
import { outcomeToOutput, type ToolOutcome, type ToolRegistry } from "../agent/tools.ts";
import type { ModelSession } from "./ports.ts";
import type { CallRecorder, ToolRun } from "./recorder.ts";

/** Tools that change nothing may still answer after the call started ending. */
const CALL_CONTROL_TOOLS = new Set(["end_call", "transfer_call"]);

/** Where the call stands, as far as tools are concerned. */
export type ToolGate = "open" | "ending" | "over";

/** What the runner needs from its call. */
export interface ToolRunnerOptions {
  callSid: string;
  /** The caller's number, when it is a real one. */
  callerNumber: string | undefined;
  tools: ToolRegistry;
  session: ModelSession;
  recorder: CallRecorder;
  clock: Clock;
  timers: TimerGroup;
  /** A tool slower than this gets a spoken filler, ms. */
  slowToolMs: number;
  metrics?: Metrics;
  log: Logger;
  /** The call's state, read before each tool. */
  gate(): ToolGate;
  /** A tool call was recorded (the call saves its record). */
  onRecorded(): void;
  /** A response's tools are done (the call may now carry out an ending). */
  onIdle(): void;
}

interface PendingToolCall extends ToolRun {
  responseId: string;
}

/** One call's tool calls. */
export class ToolRunner {
  readonly #o: ToolRunnerOptions;
  #pending: PendingToolCall[] = [];
  readonly #seen = new Set<string>();
  #chain: Promise<void> = Promise.resolve();
  #running = 0;

  constructor(options: ToolRunnerOptions) {
    this.#o = options;
  }

  /** Whether some response's tools are still queued or running. */
  get busy(): boolean {
    return this.#running > 0;
  }

  /** Resolves when every queued tool has finished. */
  get settled(): Promise<void> {
    return this.#chain;
  }

  /**
   * The model asked for a tool in `responseId` (it runs when the response is done). The
   * same call reported twice (its output item, then the response's output) counts once.
   */
  requested(call: PendingToolCall): void {
    if (this.#seen.has(call.callId)) return;
    this.#seen.add(call.callId);
    this.#pending.push(call);
  }

  /** `responseId` is done: queue its tool calls. Returns whether there were any. */
  responseDone(responseId: string, status: string): boolean {
    const calls = this.#pending.filter((c) => c.responseId === responseId);
    if (calls.length === 0) return false;
    this.#pending = this.#pending.filter((c) => c.responseId !== responseId);
    this.#running++;
    this.#chain = this.#chain
      .then(() => this.#run(calls, status === "completed"))
      .catch((error) => this.#o.log.error("tools failed: {error}", { error: errorMessage(error) }))
      .finally(() => {
        this.#running--;
        this.#o.onIdle();
      });
    return true;
  }

  async #run(calls: PendingToolCall[], completed: boolean): Promise<void> {
    const o = this.#o;
    if (o.gate() === "over") return;
    if (!completed) {
      // The response was cancelled (the caller spoke): do not act on it.
      for (const call of calls) this.#refuse(call, "the caller interrupted");
      return;
    }
    const filler = o.timers.after(o.slowToolMs, () => {
      if (o.gate() !== "open") return;
      // Never dead air: the model says a few words while the tool works.
      o.session.createResponse({
        instructions: "Say only a very short filler such as 'One moment while I check.'",
        tool_choice: "none",
      }, "drop");
    });
    try {
      for (const call of calls) {
        const gate = o.gate();
        if (gate === "over") return;
        if (gate === "ending" && !CALL_CONTROL_TOOLS.has(call.name)) {
          // The goodbye is said or being said: nothing may change that the caller won't hear.
          this.#refuse(call, "the call is ending");
          continue;
        }
        const startedAt = isoNow(o.clock);
        const outcome = await o.tools.invoke(call.name, call.arguments, {
          callSid: o.callSid,
          callerNumber: o.callerNumber,
        });
        this.#record(call, outcome, startedAt);
        if (o.gate() === "over") return;
        o.session.sendFunctionOutput(call.callId, outcomeToOutput(outcome));
      }
    } finally {
      o.timers.clear(filler);
    }
    if (o.gate() === "open") o.session.createResponse();
  }

  #refuse(call: PendingToolCall, reason: string): void {
    const outcome: ToolOutcome = { ok: true, output: { status: "not_run", reason }, durationMs: 0 };
    this.#record(call, outcome, isoNow(this.#o.clock));
    this.#o.session.sendFunctionOutput(call.callId, outcomeToOutput(outcome));
  }

  #record(call: PendingToolCall, outcome: ToolOutcome, startedAt: string): void {
    const { metrics, log, recorder } = this.#o;
    const result = outcome.ok
      ? ((outcome.output as { status?: string } | null)?.status ?? "ok")
      : outcome.error.code;
    metrics?.toolCalls.inc({ tool: call.name, result: outcome.ok ? "ok" : result });
    if (call.name === "book_slot" && outcome.ok) metrics?.bookings.inc({ result });
    recorder.tool(call, outcome, startedAt);
    const fields = { tool: call.name, result, ms: Math.round(outcome.durationMs) };
    if (outcome.ok) log.info("tool {tool} {result} in {ms} ms", fields);
    else log.warn("tool {tool} {result} in {ms} ms", { ...fields, detail: outcome.error.message });
    this.#o.onRecorded();
  }
}
