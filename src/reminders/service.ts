/**
 * Reminders, put together: the worker that plans, claims and dials, the handlers of a
 * reminder call's webhooks, and the count of calls ringing (they hold call slots). One per
 * process, built by the app when `REMINDERS` is `call` or `sms`.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { BusinessProfile } from "../booking/business.ts";
import type { BookingStore } from "../booking/types.ts";
import type { CallPurpose } from "../call/purpose.ts";
import { CallTokenSigner } from "../twilio/call_token.ts";
import type { StreamStart } from "../twilio/protocol.ts";
import { logger } from "../log.ts";
import { type ReminderCallHost, ReminderCalls } from "./calls.ts";
import { ReminderLinks } from "./links.ts";
import type { ReminderPolicy } from "./schedule.ts";
import { type ReminderTwilio, ReminderWorker, RingingCalls } from "./worker.ts";

const log = logger("reminders");

/** Timing knobs (tests make them short). */
export interface ReminderTiming {
  /** Time between worker ticks, ms; default 5000. */
  tickMs: number;
  /** Lease on claimed work, ms; default 60 000 (a REST request times out after 10 s). */
  leaseMs: number;
  /** Most reminders worked on per tick; default 25. */
  batch: number;
}

/** What the service needs. */
export interface ReminderServiceDeps {
  config: Config;
  profile: BusinessProfile;
  store: BookingStore;
  twilio: ReminderTwilio;
  /** The call manager: admission, pre-warm, and how many calls may be placed now. */
  host: ReminderCallHost & { outboundCapacity(): number };
  /** Whether `transfer_call` is offered on reminder calls. */
  canTransfer: boolean;
  timing?: Partial<ReminderTiming>;
  /** Clock; default `Temporal.Now.instant`. */
  now?: () => Temporal.Instant;
  /** Lease owner name; default host name, process id and a random suffix. */
  owner?: string;
}

/** Reminder calls and texts of this instance. */
export class ReminderService {
  /** The reminder call webhooks and purposes. */
  readonly calls: ReminderCalls;
  /** Signed reminder links. */
  readonly links: ReminderLinks;
  /** The plan/claim/dial loop. */
  readonly worker: ReminderWorker;
  readonly #ringing: RingingCalls;
  readonly #profile: { current: BusinessProfile };

  private constructor(
    calls: ReminderCalls,
    links: ReminderLinks,
    worker: ReminderWorker,
    ringing: RingingCalls,
    profile: { current: BusinessProfile },
  ) {
    this.calls = calls;
    this.links = links;
    this.worker = worker;
    this.#ringing = ringing;
    this.#profile = profile;
  }

  /**
   * Applies a reloaded business profile (console reload, SIGHUP) to every later reminder:
   * its calling window, time zone, name and phone in calls and texts.
   */
  setProfile(profile: BusinessProfile): void {
    this.#profile.current = profile;
  }

  /** Builds the service (derives the link key); call {@linkcode start} to begin. */
  static async create(deps: ReminderServiceDeps): Promise<ReminderService> {
    const { config, store } = deps;
    // One holder read at each use, so a reloaded profile reaches the policy, the worker and
    // the call webhooks alike.
    const holder = { current: deps.profile };
    const r = config.reminders;
    if (r.mode === "off") throw new Error("REMINDERS=off: no reminder service");
    const now = deps.now ?? (() => Temporal.Now.instant());
    const timing: ReminderTiming = { tickMs: 5000, leaseMs: 60_000, batch: 25, ...deps.timing };
    const links = await ReminderLinks.create(config.twilio.authToken, config.publicUrl);
    const ringing = new RingingCalls(() => now().epochMilliseconds);
    const policy: ReminderPolicy = {
      get profile() {
        return holder.current;
      },
      hoursBefore: r.hoursBefore,
      retryMinutes: r.retryMinutes,
      mode: r.mode,
      smsEnabled: r.smsFrom !== undefined,
    };
    const owner = deps.owner ??
      `${Deno.hostname()}:${Deno.pid}:${crypto.randomUUID().slice(0, 8)}`;
    const worker = new ReminderWorker({
      get profile() {
        return holder.current;
      },
      store,
      twilio: deps.twilio,
      links,
      policy,
      ringing,
      callSlots: () => deps.host.outboundCapacity(),
      callsPerMinute: r.callsPerMinute,
      callFrom: r.mode === "call" ? r.callFrom : undefined,
      smsFrom: r.smsFrom,
      maxCallSeconds: config.limits.maxCallSeconds,
      owner,
      now,
      ...timing,
    });
    let tokens: Promise<CallTokenSigner> | undefined;
    const calls = new ReminderCalls({
      get profile() {
        return holder.current;
      },
      store,
      twilio: deps.twilio,
      links,
      callTokens: () => tokens ??= CallTokenSigner.create(config.twilio.authToken),
      policy,
      ringing,
      host: deps.host,
      publicUrl: config.publicUrl,
      canTransfer: deps.canTransfer,
      callWatchdogMs: worker.callWatchdogMs,
      now,
    });
    log.info("reminders on: {mode}, {hours} h before, retry after {retry} min, {rate} calls/min", {
      mode: r.mode,
      hours: r.hoursBefore,
      retry: r.retryMinutes,
      rate: r.callsPerMinute,
      owner,
    });
    if (r.mode === "call" && config.limits.maxCalls < 2) {
      log.warn(
        "MAX_CALLS is 1: its one line is kept for incoming calls, so no reminder calls go out",
      );
    }
    return new ReminderService(calls, links, worker, ringing, holder);
  }

  /** Reminder calls being placed or ringing on this instance (each holds a call slot). */
  get ringing(): number {
    return this.#ringing.count;
  }

  /** The purpose of a media stream (a reminder call), or undefined for an incoming call. */
  purposeFor(start: StreamStart): Promise<CallPurpose | undefined> {
    return this.calls.purposeFor(start);
  }

  /** Starts the worker. */
  start(): void {
    this.worker.start();
  }

  /** Stops the worker (work it held is taken over after its lease, here or elsewhere). */
  stop(): Promise<void> {
    return this.worker.stop();
  }
}
