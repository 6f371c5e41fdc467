/**
 * What a `Call` is built from: its two sides (through their ports), its
 * tools, where its record goes, its time limits, prompts and observers. The call manager
 * builds one per call.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { Clock } from "../clock.ts";
import type { Metrics } from "../metrics.ts";
import type { ToolRegistry } from "../agent/tools.ts";
import type { AudioPath } from "./audio_path.ts";
import type { CallControl, CallerStream, ModelSession } from "./ports.ts";
import type { CallRecordSink } from "./recorder.ts";
import type { AfterEndStep, CallTap } from "./call_tap.ts";

/** Time limits of a call, ms. */
export interface CallLimits {
  idleCheckinMs: number;
  idleHangupMs: number;
  /** At this age the agent wraps the call up (says goodbye, then hangs up). */
  maxCallMs: number;
  /** The model must be ready this long after the stream starts, or the apology plays. */
  modelReadyMs: number;
  /** A tool slower than this gets a spoken filler. */
  slowToolMs: number;
  /** Agent audio between Twilio marks (ms); default `MARK_INTERVAL_MS` (playout.ts), 0: every chunk. */
  markIntervalMs?: number;
  /**
   * Past `maxCallMs` + this, or this long into any ending, the call is ended without
   * waiting any longer (a goodbye that never comes, marks that are never echoed).
   * Default 20 000.
   */
  endingGraceMs?: number;
  /** After a REST hang-up or transfer, how long Twilio has to send `stop`. Default 5000. */
  stopGraceMs?: number;
  /** A model session that dropped gets this long to come back before the apology. Default 2500. */
  reconnectPatienceMs?: number;
  /** Longest the after-call step may keep the model session open. Default 10 000. */
  afterEndMs?: number;
}

/** Everything a call needs; built per call by the call manager. */
export interface CallDeps {
  callSid: string;
  from: string;
  to: string;
  stream: CallerStream;
  session: ModelSession;
  audio: AudioPath;
  tools: ToolRegistry;
  records: CallRecordSink;
  greeting: string;
  limits: CallLimits;
  /**
   * Clock time by which the model must be ready, counted from the stream's start;
   * default: `limits.modelReadyMs` after `Call.start()`.
   */
  modelReadyBy?: number;
  /** Prepared mu-law 8 kHz prompts, played without the model. */
  prompts: {
    /** Played when the model cannot be reached (a transfer or hang-up follows). */
    apology: Uint8Array;
    /** "One moment, please": played at once when the model connection drops mid-call. */
    hold: Uint8Array;
  };
  transferNumber?: string;
  control?: CallControl;
  metrics?: Metrics;
  log: Logger;
  clock: Clock;
  /** Sees the caller's and the agent's audio (the recording). */
  tap?: CallTap;
  /** Runs once the call is over, with the model session still open (the summary). */
  afterEnd?: AfterEndStep;
}
