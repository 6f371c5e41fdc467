/**
 * Prometheus metrics (`GET /metrics`), built on `npm:prom-client`.
 *
 * One {@linkcode Metrics} object per process; calls record into it. prom-client's
 * default process collectors read Node internals that Deno does not fill in, so process
 * memory is exported from `Deno.memoryUsage()` instead.
 *
 * @module
 */
import client from "prom-client";

/** Seconds buckets for latencies that matter at the millisecond scale. */
const FAST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];
/** Seconds buckets for conversational turn latency. */
const TURN_BUCKETS = [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10];

/** All metrics the service exports. */
export class Metrics {
  /** The registry `/metrics` renders. */
  readonly registry: client.Registry = new client.Registry();
  readonly activeCalls: client.Gauge;
  readonly callsTotal: client.Counter<"outcome">;
  readonly turnLatency: client.Histogram;
  readonly bargeInReaction: client.Histogram;
  readonly bargeIns: client.Counter;
  readonly modelReconnects: client.Counter;
  readonly toolCalls: client.Counter<"tool" | "result">;
  readonly bookings: client.Counter<"result">;
  readonly protocolErrors: client.Counter<"side" | "reason">;
  readonly framesRelayed: client.Counter<"direction">;
  readonly webhooks: client.Counter<"route" | "result">;

  constructor() {
    const registers = [this.registry];
    this.activeCalls = new client.Gauge({
      name: "voice_active_calls",
      help: "Calls with an open media stream.",
      registers,
    });
    this.callsTotal = new client.Counter({
      name: "voice_calls_total",
      help: "Finished calls by outcome.",
      labelNames: ["outcome"],
      registers,
    });
    this.turnLatency = new client.Histogram({
      name: "voice_turn_latency_seconds",
      help: "Caller stopped speaking -> first agent audio sent to Twilio.",
      buckets: TURN_BUCKETS,
      registers,
    });
    this.bargeInReaction = new client.Histogram({
      name: "voice_barge_in_reaction_seconds",
      help: "speech_started received -> Twilio clear sent.",
      buckets: FAST_BUCKETS,
      registers,
    });
    this.bargeIns = new client.Counter({
      name: "voice_barge_ins_total",
      help: "Times the caller interrupted agent audio.",
      registers,
    });
    this.modelReconnects = new client.Counter({
      name: "voice_model_reconnects_total",
      help: "Realtime sessions re-established after a drop.",
      registers,
    });
    this.toolCalls = new client.Counter({
      name: "voice_tool_calls_total",
      help: "Model tool calls by tool and result (ok, invalid_arguments, timeout, failed, ...).",
      labelNames: ["tool", "result"],
      registers,
    });
    this.bookings = new client.Counter({
      name: "voice_bookings_total",
      help: "Booking attempts by result (confirmed, unavailable, ...).",
      labelNames: ["result"],
      registers,
    });
    this.protocolErrors = new client.Counter({
      name: "voice_protocol_errors_total",
      help: "Dropped or rejected protocol messages by side (twilio, model) and reason.",
      labelNames: ["side", "reason"],
      registers,
    });
    this.framesRelayed = new client.Counter({
      name: "voice_frames_relayed_total",
      help: "Audio messages relayed, by direction (to_model, to_caller).",
      labelNames: ["direction"],
      registers,
    });
    this.webhooks = new client.Counter({
      name: "voice_webhooks_total",
      help: "Twilio webhooks by route and result.",
      labelNames: ["route", "result"],
      registers,
    });
    new client.Gauge({
      name: "voice_process_resident_memory_bytes",
      help: "Resident set size of the process.",
      registers,
      collect() {
        this.set(Deno.memoryUsage().rss);
      },
    });
    new client.Gauge({
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
