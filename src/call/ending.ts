/**
 * How a call ends once something asked it to (the caller's goodbye, a transfer, the
 * apology, a wrap-up): the `ending` phase's stages, in order.
 *
 * `goodbye` (the model's last words and any running tool finish) → `draining` (what was
 * sent to Twilio has played, or its deadline passed) → `executing` (the REST transfer or
 * hang-up; without REST, closing the stream hangs up) → `awaiting_stop` (Twilio's `stop`,
 * or a short grace) → the call finishes with the reason decided on entry. A grace timer
 * set on entry carries the request out if the goodbye or the drain never comes.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { TimerGroup, TimerHandle } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import type { CallControl, ModelSession } from "./ports.ts";
import type { AgentAudio } from "./agent_audio.ts";
import {
  type CallPhase,
  type Ending,
  endingPhase,
  type EndReason,
  type EndRequest,
} from "./phase.ts";

/** Default longest ending, ms (no goodbye, no echo: the call is over anyway). */
export const DEFAULT_ENDING_GRACE_MS = 20_000;
/** Default wait for Twilio's `stop` after a REST transfer or hang-up, ms. */
export const DEFAULT_STOP_GRACE_MS = 5_000;

/** What an ending needs from its call. */
export interface CallEndingDeps {
  callSid: string;
  /** Twilio's REST API (transfer, hang-up); without it, closing the stream hangs up. */
  control?: CallControl;
  transferNumber?: string;
  /** Longest ending (ms); default {@linkcode DEFAULT_ENDING_GRACE_MS}. */
  endingGraceMs?: number;
  /** Wait for `stop` after a REST request (ms); default {@linkcode DEFAULT_STOP_GRACE_MS}. */
  stopGraceMs?: number;
  session: Pick<ModelSession, "state" | "responseActive">;
  audio: Pick<AgentAudio, "flush" | "whenDrained" | "drainDeadlineMs">;
  /** The call's timers (all cleared when it finishes). */
  timers: TimerGroup;
  log: Logger;
  /** The call's phase, and the one way to change it. */
  phase: () => CallPhase;
  setPhase: (next: CallPhase) => void;
  /** True while a tool runs: its result comes before the goodbye. */
  toolsBusy: () => boolean;
  /** Called once as the ending starts (the idle policy stops). */
  started: () => void;
  /** Finishes the call for good. */
  finish: (reason: EndReason) => void;
}

/** Carries a call's ending out, stage by stage. */
export class CallEnding {
  readonly #deps: CallEndingDeps;

  constructor(deps: CallEndingDeps) {
    this.#deps = deps;
  }

  /**
   * Enters `ending` with its reason (decided here, once), unless the call is already
   * ending or over; false then. What is still being said is finished first.
   */
  begin(request: EndRequest, reason: EndReason): boolean {
    const { phase, setPhase, log, timers } = this.#deps;
    const name = phase().name;
    if (name === "ending" || name === "finished") return false;
    setPhase(endingPhase(request, reason));
    this.#deps.started();
    log.info("call ending ({kind}): {why}", { kind: request.kind, why: request.why });
    // Whatever happens (no goodbye, no echo), the call is over within the grace.
    timers.after(this.#deps.endingGraceMs ?? DEFAULT_ENDING_GRACE_MS, () => this.#forceEnd());
    this.proceed();
    return true;
  }

  /** Carries out the ending once no response is in progress and no tool is running. */
  proceed(): void {
    const phase = this.#deps.phase();
    if (phase.name !== "ending" || phase.stage !== "goodbye") return;
    const { session } = this.#deps;
    if (session.state === "open" && session.responseActive) return; // the goodbye is coming
    if (this.#deps.toolsBusy()) return; // their results come first
    void this.#carryOut(phase);
  }

  /** The model is gone: a goodbye still awaited will not come, so go on without it. */
  modelClosed(): void {
    const phase = this.#deps.phase();
    if (phase.name === "ending" && phase.stage === "goodbye") void this.#carryOut(phase);
  }

  /** Transfer or hang up once everything said has been heard. */
  async #carryOut(ending: Ending): Promise<void> {
    this.#deps.setPhase({ ...ending, stage: "draining" });
    this.#deps.audio.flush();
    await this.#drained();
    const phase = this.#deps.phase();
    if (phase.name === "ending" && phase.stage === "draining") await this.#execute(phase);
  }

  /** Carries out the request now: transfer (falling back to hang-up) or hang up. */
  async #execute(ending: Ending): Promise<void> {
    const { control, transferNumber, callSid, log, setPhase } = this.#deps;
    setPhase({ ...ending, stage: "executing" });
    const { request } = ending;
    if (request.kind === "transfer" && control && transferNumber) {
      log.info("transferring call: {why}", { why: request.why });
      try {
        await control.transfer(callSid, transferNumber);
        this.#awaitStop(); // Twilio now sends `stop`; that is not a hang-up
        return;
      } catch (error) {
        log.error("transfer failed, hanging up: {error}", { error: errorMessage(error) });
        const now = this.#deps.phase();
        if (now.name !== "ending") return;
        setPhase({ ...now, reason: "error", ifCallerLeaves: "error" });
      }
    }
    await this.#hangUp(request.why);
  }

  /** Resolves when the audio sent so far has played, or by its deadline. */
  async #drained(): Promise<void> {
    const { audio, timers, log } = this.#deps;
    let timer: TimerHandle | undefined;
    await Promise.race([
      audio.whenDrained(),
      new Promise<void>((resolve) => {
        timer = timers.after(audio.drainDeadlineMs(), () => {
          log.warn("playback not confirmed by its deadline; ending anyway");
          resolve();
        });
      }),
    ]);
    timers.clear(timer);
  }

  async #hangUp(why: string): Promise<void> {
    const { control, callSid, log } = this.#deps;
    log.info("hanging up: {why}", { why });
    if (control) {
      try {
        const result = await control.hangUp(callSid);
        if (result === "completed") return this.#awaitStop();
        log.info("Twilio says the call had already ended");
      } catch (error) {
        log.error("REST hang-up failed, closing the stream: {error}", {
          error: errorMessage(error),
        });
      }
    }
    // Without REST (or when it failed): closing the socket runs the <Hangup/> after </Connect>.
    this.#finishEnding();
  }

  /** After a REST transfer or hang-up: Twilio sends `stop`; if it does not, end anyway. */
  #awaitStop(): void {
    const phase = this.#deps.phase();
    if (phase.name !== "ending") return;
    this.#deps.setPhase({ ...phase, stage: "awaiting_stop" });
    this.#deps.timers.after(this.#deps.stopGraceMs ?? DEFAULT_STOP_GRACE_MS, () => {
      this.#deps.log.warn("no stop from Twilio after the REST request; closing the stream");
      this.#finishEnding();
    });
  }

  #finishEnding(): void {
    const phase = this.#deps.phase();
    if (phase.name === "ending") this.#deps.finish(phase.reason);
  }

  /** The ending's grace ran out before the request was carried out: do it now. */
  #forceEnd(): void {
    const phase = this.#deps.phase();
    if (phase.name !== "ending" || (phase.stage !== "goodbye" && phase.stage !== "draining")) {
      return;
    }
    this.#deps.log.warn("ending took too long (stage {stage}); carrying it out now", {
      stage: phase.stage,
    });
    void this.#execute(phase);
  }
}
