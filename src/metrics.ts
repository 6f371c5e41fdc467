/**
 * Prometheus metrics (`GET /metrics`), built on `npm:prom-client`.
 *
 * One {@linkcode Metrics} object per process; calls record into it. prom-client's
 * default process collectors read Node internals that Deno does not fill in, so process
 * memory is exported from `Deno.memoryUsage()` instead.
 *
 * @module
 */
import type client from "prom-client";
// prom-client's four classes alone, not its root: the root also loads cluster aggregation,
// the Pushgateway client (node:http, zlib) and the default process collectors, ~4 MiB of
// idle RSS the service does not use. These files have no types of their own; the casts give
// them the package's.
import CounterJs from "prom-client/lib/counter.js";
import GaugeJs from "prom-client/lib/gauge.js";
import HistogramJs from "prom-client/lib/histogram.js";
import RegistryJs from "prom-client/lib/registry.js";

const Counter = CounterJs as typeof client.Counter;
const Gauge = GaugeJs as typeof client.Gauge;
const Histogram = HistogramJs as typeof client.Histogram;
const Registry = RegistryJs as typeof client.Registry;

/** Every tool the agent offers; any other name the model sends is counted as `unknown`. */
export const TOOL_LABELS: ReadonlySet<string> = new Set([
  "get_pricing",
  "get_slots",
  "book_slot",
  "find_booking",
  "cancel_booking",
  "reschedule_booking",
  "end_call",
  "transfer_call",
]);

/** Tool results (`ok` or a tool error code); anything else is `other`. */
export const TOOL_RESULT_LABELS: ReadonlySet<string> = new Set([
  "ok",
  "unknown_tool",
  "invalid_arguments",
  "timeout",
  "failed",
  "not_run",
]);

/** `status` values of book_slot's result; anything else is `other`. */
export const BOOKING_RESULT_LABELS: ReadonlySet<string> = new Set([
  "confirmed",
  "already_booked",
  "unavailable",
  "not_booked",
  "unknown",
]);

/**
 * Error codes the Realtime API sends in `error` events that are worth their own series
 * (https://platform.openai.com/docs/api-reference/realtime-server-events/error); any other
 * code the model side sends is counted as `other`.
 */
export const MODEL_ERROR_LABELS: ReadonlySet<string> = new Set([
  "invalid_request_error",
  "server_error",
  "invalid_value",
  "invalid_json",
  "invalid_api_key",
  "rate_limit_exceeded",
  "session_expired",
  "cannot_update_voice",
  "conversation_already_has_active_response",
  "response_cancel_not_active",
  "input_audio_buffer_commit_empty",
  "item_id_exists",
  "item_truncate_invalid_item_id",
  "item_delete_invalid_item_id",
  "missing_required_parameter",
  "unknown_parameter",
  "invalid_audio",
  "socket_backlog",
  "text_only_reply",
]);

/** A label value our own code chose: short, lower case. */
const OWN_LABEL = /^[a-z][a-z0-9_.-]{0,63}$/;

/**
 * Keeps one label's values to a bounded set: `known` values pass, and when `open` > 0 up to
 * `open` further values written by our own code (matching {@linkcode OWN_LABEL}); every
 * other value becomes `fallback`. A series per value is forever, so this bounds memory and
 * the size of `/metrics` whatever a peer sends.
 */
export class LabelBound {
  readonly #known: ReadonlySet<string>;
  readonly #fallback: string;
  readonly #open: number;
  readonly #seen = new Set<string>();

  /** Builds the bound. */
  constructor(known: Iterable<string>, fallback: string, open = 0) {
    this.#known = new Set(known);
    this.#fallback = fallback;
    this.#open = open;
  }

  /** The value to record for `value`. */
  map(value: string | number | undefined): string {
    const v = String(value ?? "");
    if (this.#known.has(v) || this.#seen.has(v)) return v;
    if (this.#seen.size < this.#open && OWN_LABEL.test(v)) {
      this.#seen.add(v);
      return v;
    }
    return this.#fallback;
  }
}

/** A counter whose label values are passed through {@linkcode LabelBound}s. */
export class BoundedCounter<L extends string> {
  /** The underlying prom-client counter. */
  readonly counter: client.Counter<L>;
  readonly #bound: (labels: Partial<Record<L, string | number>>) => Partial<Record<L, string>>;

  /** Wraps `counter`; `bound` maps the labels of each increment. */
  constructor(
    counter: client.Counter<L>,
    bound: (labels: Partial<Record<L, string | number>>) => Partial<Record<L, string>>,
  ) {
    this.counter = counter;
    this.#bound = bound;
  }

  /** Adds `value` (default 1) to the series named by the bounded `labels`. */
  inc(labels: Partial<Record<L, string | number>>, value?: number): void {
    this.counter.inc(this.#bound(labels) as client.LabelValues<L>, value);
  }
}

/** Seconds buckets for latencies that matter at the millisecond scale. */
const FAST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];
/** Seconds buckets for conversational turn latency. */
const TURN_BUCKETS = [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10];

/** All metrics the service exports. */
export class Metrics {
  /** The registry `/metrics` renders. */
  readonly registry: client.Registry = new Registry();
  readonly activeCalls: client.Gauge;
  readonly callsTotal: BoundedCounter<"outcome">;
  readonly turnLatency: client.Histogram;
  readonly bargeInReaction: client.Histogram;
  readonly bargeIns: client.Counter;
  readonly modelReconnects: client.Counter;
  readonly toolCalls: BoundedCounter<"tool" | "result">;
  readonly bookings: BoundedCounter<"result">;
  readonly protocolErrors: BoundedCounter<"side" | "reason">;
  readonly responseRequests: client.Counter<"result">;
  readonly framesRelayed: client.Counter<"direction">;
  readonly webhooks: BoundedCounter<"route" | "result">;
  /** 1 while Twilio signatures are checked, 0 with `TWILIO_VALIDATE_SIGNATURES=false`. */
  readonly signaturesChecked: client.Gauge;
  /** After the call: the agent's claims checked against the truth. */
  readonly promiseChecks: BoundedCounter<"kind" | "result">;
  /** After the call: calls flagged because a claim did not match. */
  readonly flaggedCalls: client.Counter;
  /** After the call: summaries by result. */
  readonly summaries: BoundedCounter<"result">;
  /** Recordings deleted by the retention sweep. */
  readonly recordingsDeleted: client.Counter;

  constructor() {
    const registers = [this.registry];
    this.activeCalls = new Gauge({
      name: "voice_active_calls",
      help: "Calls with an open media stream.",
      registers,
    });
    const outcome = new LabelBound(
      [
        "booked",
        "rescheduled",
        "cancelled",
        "information",
        "transferred",
        "caller_hung_up",
        "agent_hung_up",
        "model_unavailable",
        "shutdown",
        "error",
      ],
      "other",
      16,
    );
    this.callsTotal = new BoundedCounter(
      new Counter({
        name: "voice_calls_total",
        help: "Finished calls by outcome.",
        labelNames: ["outcome"],
        registers,
      }),
      (l) => ({ outcome: outcome.map(l.outcome) }),
    );
    this.turnLatency = new Histogram({
      name: "voice_turn_latency_seconds",
      help: "Caller stopped speaking -> first agent audio sent to Twilio.",
      buckets: TURN_BUCKETS,
      registers,
    });
    this.bargeInReaction = new Histogram({
      name: "voice_barge_in_reaction_seconds",
      help: "speech_started received -> Twilio clear sent.",
      buckets: FAST_BUCKETS,
      registers,
    });
    this.bargeIns = new Counter({
      name: "voice_barge_ins_total",
      help: "Times the caller interrupted agent audio.",
      registers,
    });
    this.modelReconnects = new Counter({
      name: "voice_model_reconnects_total",
      help: "Realtime sessions re-established after a drop.",
      registers,
    });
    // Tool names and error codes are chosen by the model: only known values are labels.
    const tool = new LabelBound(TOOL_LABELS, "unknown");
    const toolResult = new LabelBound(TOOL_RESULT_LABELS, "other");
    this.toolCalls = new BoundedCounter(
      new Counter({
        name: "voice_tool_calls_total",
        help: "Model tool calls by tool (unknown: a name no tool has) and result " +
          "(ok, invalid_arguments, timeout, failed, ...).",
        labelNames: ["tool", "result"],
        registers,
      }),
      (l) => ({ tool: tool.map(l.tool), result: toolResult.map(l.result) }),
    );
    const bookingResult = new LabelBound(BOOKING_RESULT_LABELS, "other");
    this.bookings = new BoundedCounter(
      new Counter({
        name: "voice_bookings_total",
        help: "Booking attempts by result (confirmed, already_booked, unavailable, ...).",
        labelNames: ["result"],
        registers,
      }),
      (l) => ({ result: bookingResult.map(l.result) }),
    );
    const side = new LabelBound(["twilio", "model"], "other");
    const modelReason = new LabelBound(MODEL_ERROR_LABELS, "other");
    const ownReason = new LabelBound(["stream_error", "invalid_audio"], "other", 32);
    this.protocolErrors = new BoundedCounter(
      new Counter({
        name: "voice_protocol_errors_total",
        help: "Dropped or rejected protocol messages by side (twilio, model) and reason.",
        labelNames: ["side", "reason"],
        registers,
      }),
      (l) => {
        const s = side.map(l.side);
        return { side: s, reason: (s === "model" ? modelReason : ownReason).map(l.reason) };
      },
    );
    this.responseRequests = new Counter({
      name: "voice_response_requests_total",
      help: "Requests for a model response by what became of them (sent, deferred, dropped, " +
        "rejected, expired, retried).",
      labelNames: ["result"],
      registers,
    });
    this.framesRelayed = new Counter({
      name: "voice_frames_relayed_total",
      help: "Audio messages relayed, by direction (to_model, to_caller).",
      labelNames: ["direction"],
      registers,
    });
    const route = new LabelBound(["voice", "status", "media"], "other", 16);
    const webhookResult = new LabelBound(["accepted", "busy", "draining"], "other", 32);
    this.webhooks = new BoundedCounter(
      new Counter({
        name: "voice_webhooks_total",
        help: "Twilio webhooks by route and result.",
        labelNames: ["route", "result"],
        registers,
      }),
      (l) => ({ route: route.map(l.route), result: webhookResult.map(l.result) }),
    );
    // After the call: summaries, promise checks, flagged calls, recordings.
    const claimKind = new LabelBound(
      ["booking", "cancellation", "reschedule", "price", "hours", "live_booking"],
      "other",
    );
    const claimResult = new LabelBound(["verified", "mismatch", "unverifiable"], "other");
    this.promiseChecks = new BoundedCounter(
      new Counter({
        name: "voice_promise_checks_total",
        help: "Claims the agent made, checked against the database and the profile, by kind " +
          "(booking, cancellation, reschedule, price, hours, live_booking) and result " +
          "(verified, mismatch, unverifiable).",
        labelNames: ["kind", "result"],
        registers,
      }),
      (l) => ({ kind: claimKind.map(l.kind), result: claimResult.map(l.result) }),
    );
    this.flaggedCalls = new Counter({
      name: "voice_calls_flagged_total",
      help: "Calls flagged because a claim of the agent did not match the database or profile.",
      registers,
    });
    const summaryResult = new LabelBound(
      ["ok", "malformed", "unavailable", "timeout", "failed", "off"],
      "other",
    );
    this.summaries = new BoundedCounter(
      new Counter({
        name: "voice_call_summaries_total",
        help: "After-call summaries by result (ok, malformed, unavailable, timeout, failed, off).",
        labelNames: ["result"],
        registers,
      }),
      (l) => ({ result: summaryResult.map(l.result) }),
    );
    this.recordingsDeleted = new Counter({
      name: "voice_recordings_deleted_total",
      help: "Call recordings deleted by the retention sweep.",
      registers,
    });
    this.signaturesChecked = new Gauge({
      name: "voice_twilio_signatures_checked",
      help:
        "1 while Twilio request signatures are checked; 0 when TWILIO_VALIDATE_SIGNATURES=false.",
      registers,
    });
    new Gauge({
      name: "voice_process_resident_memory_bytes",
      help: "Resident set size of the process.",
      registers,
      collect() {
        this.set(Deno.memoryUsage().rss);
      },
    });
    new Gauge({
      name: "voice_process_heap_used_bytes",
      help: "V8 heap in use.",
      registers,
      collect() {
        this.set(Deno.memoryUsage().heapUsed);
      },
    });
  }

  /** The Prometheus text exposition. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Content type of {@linkcode render}'s output. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
