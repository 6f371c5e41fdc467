/**
 * The composition root: builds every part of the service from a {@linkcode Config}
 * and serves the route table. `main.ts` calls {@linkcode startApp}; tests do too, with
 * port 0.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { redactConfig } from "./config.ts";
import { logger } from "./log.ts";
import { healthRoutes, type RunningServer, startServer } from "./server.ts";
import { VERSION } from "./version.ts";
import { DEFAULT_BUSINESS_FILE, loadBusinessProfile } from "./booking/business.ts";
import type { BusinessProfile } from "./booking/business.ts";
import { abandonCrashedCalls, openStore } from "./booking/store.ts";
import type { BookingStore, StoreOptions } from "./booking/types.ts";
import { Metrics } from "./metrics.ts";
import { loadApologies } from "./assets.ts";
import { CallManager, type CallManagerDeps } from "./call/manager.ts";
import { TwilioCallControl } from "./twilio/rest.ts";
import { twilioRoutes } from "./twilio/routes.ts";
import { mediaSocketLimits, MediaSockets } from "./twilio/media_sockets.ts";
import { cannotServeTwiml } from "./twilio/twiml.ts";
import { checkReadiness, watchWrites, WriteHealth } from "./readiness.ts";
import type { Route } from "./http.ts";
import { adminRoutes } from "./admin_routes.ts";
import { type Console, createConsole } from "./console/routes.ts";
import { pollingLiveFeed } from "./console/live.ts";
import { BusinessProfileSource, type ReloadAttempt } from "./console/profile_reload.ts";
import { requireBearer } from "./console/metrics_token.ts";
import { ReminderService, type ReminderTiming } from "./reminders/service.ts";
import {
  DEFAULT_REALTIME_MODEL,
  DEFAULT_TRANSCRIPTION_MODEL,
  type Deprecation,
  deprecationOf,
} from "./realtime/models.ts";
import { reminderRoutes } from "./reminders/routes.ts";
import { RecordingRetention } from "./recording/retention.ts";

const log = logger("app");

/** A running service. */
export interface App {
  server: RunningServer;
  /** Base URL the server listens on, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  calls: CallManager;
  store: BookingStore;
  metrics: Metrics;
  /** The business profile in force (changes on a successful reload). */
  readonly profile: BusinessProfile;
  /**
   * Re-reads `BUSINESS_FILE` (console button, SIGHUP): a valid file replaces the profile for
   * the store and new calls; a broken one is refused and the old profile stays.
   */
  reloadProfile(): ReloadAttempt;
  /** Reminder calls and texts (absent with `REMINDERS=off`). */
  reminders?: ReminderService;
  /**
   * Graceful shutdown: stop taking calls, let active ones finish (up to
   * `DRAIN_SECONDS`), end the rest politely, close the server and the database.
   */
  stop(): Promise<void>;
}

/** Test and embedding hooks for {@linkcode startApp}. */
export interface AppOverrides {
  /** REST client options (tests point the twilio library at a local fake). */
  control?: TwilioCallControl;
  callManager?: Partial<Pick<CallManagerDeps, "limits" | "connectionOptions" | "now">>;
  /** Seconds to wait for goodbyes after the drain timeout (default 15). */
  goodbyeSeconds?: number;
  /** The current instant for bookings and the prompt's "today" (the demo and tests date it). */
  clock?: () => Temporal.Instant;
  /** Reminder worker timing, lease owner name and clock (tests). */
  reminders?: Partial<ReminderTiming> & { owner?: string; now?: () => Temporal.Instant };
  /** Store options (tests: a fresh PostgreSQL schema). */
  storeOptions?: Pick<StoreOptions, "schema" | "maxConnections">;
  /** Time between recording retention sweeps, ms (default one hour). */
  retentionSweepMs?: number;
}

/**
 * One loud warning per configured model the official SDK lists as deprecated: after its
 * shutdown date every call would get only the apology.
 */
export function warnDeprecatedModels(config: Config): Deprecation[] {
  const found = [config.openai.model, config.openai.transcriptionModel]
    .map(deprecationOf)
    .filter((d): d is Deprecation => d !== undefined);
  for (const d of found) {
    const variable = d.kind === "realtime" ? "OPENAI_REALTIME_MODEL" : "OPENAI_TRANSCRIPTION_MODEL";
    log.warn(
      "DEPRECATED MODEL: {variable}={model} is shut down by OpenAI on {shutdown}; after that " +
        "every call gets only the apology. Set {variable} to a current model (default {fix}).",
      {
        variable,
        model: d.model,
        shutdown: d.shutdown,
        fix: d.kind === "realtime" ? DEFAULT_REALTIME_MODEL : DEFAULT_TRANSCRIPTION_MODEL,
      },
    );
  }
  return found;
}

/** Starts the service described by `config`. */
export async function startApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  const startedAt = Date.now();
  log.info("starting voice-agent {version}", { version: VERSION, config: redactConfig(config) });
  if (!config.twilio.validateSignatures) {
    log.warn(
      "TWILIO_VALIDATE_SIGNATURES=false: anyone can place calls on this service. " +
        "Use only for local development.",
    );
  }
  warnDeprecatedModels(config);
  const profileFile = config.businessFile ?? DEFAULT_BUSINESS_FILE;
  const profile = loadBusinessProfile(profileFile);
  // Bind first: a port in use must not leave a database created and migrated behind.
  const server = startServer({ hostname: config.host, port: config.port });
  let store: BookingStore;
  // Failed writes make the instance not ready (a read-only database answers pings).
  const writes = new WriteHealth();
  try {
    store = watchWrites(
      await openStore(config.databaseUrl, profile, {
        clock: overrides.clock,
        ...overrides.storeOptions,
      }),
      writes,
    );
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  await abandonCrashedCalls(store, config.limits);
  const metrics = new Metrics();
  metrics.signaturesChecked.set(config.twilio.validateSignatures ? 1 : 0);
  const control = overrides.control ?? (config.twilio.accountSid
    ? new TwilioCallControl({
      accountSid: config.twilio.accountSid,
      authToken: config.twilio.authToken,
    })
    : undefined);
  if (!control) {
    log.info("TWILIO_ACCOUNT_SID not set: no transfers or SMS; hang-up closes the stream");
  }
  let reminders: ReminderService | undefined;
  const calls = new CallManager({
    config,
    profile,
    store,
    metrics,
    apologies: loadApologies(),
    control,
    ...(overrides.clock ? { now: overrides.clock } : {}),
    outboundLoad: () => reminders?.ringing ?? 0,
    resolvePurpose: (start) => reminders?.purposeFor(start) ?? Promise.resolve(undefined),
    ...overrides.callManager,
  });
  // Old recordings are swept whether or not calls are recorded now (RECORD_CALLS may be off).
  const retention = new RecordingRetention({
    dir: config.recording.dir,
    retentionDays: config.recording.retentionDays,
    records: store,
    log: logger("recording"),
    everyMs: overrides.retentionSweepMs,
    onDeleted: () => metrics.recordingsDeleted.inc(),
  });
  if (config.recording.enabled) {
    log.info("recording calls to {dir} (kept {days} days); callers are told first", {
      dir: config.recording.dir,
      days: config.recording.retentionDays,
    });
  }
  const profiles = new BusinessProfileSource(profileFile, profile, (next) => {
    store.setProfile(next);
    calls.setProfile(next);
    reminders?.setProfile(next);
  });
  let operatorConsole: Console | undefined;
  if (config.console) {
    try {
      operatorConsole = await createConsole({
        config: config.console,
        publicUrl: config.publicUrl,
        store,
        profiles,
        live: pollingLiveFeed(calls),
        reminders: config.reminders.mode,
      });
    } catch (error) {
      await store.close();
      throw error;
    }
  } else {
    log.info("operator console off: set CONSOLE_PASSWORD or CONSOLE_PASSWORD_HASH to serve it");
  }
  if (config.reminders.mode !== "off" && control) {
    const { owner, now, ...timing } = overrides.reminders ?? {};
    reminders = await ReminderService.create({
      config,
      profile,
      store,
      twilio: control,
      host: calls,
      canTransfer: Boolean(config.transferNumber),
      timing,
      owner,
      now,
    });
  }

  const mediaSockets = new MediaSockets(mediaSocketLimits(config.limits.maxCalls));
  const routes: Route[] = [
    ...healthRoutes({ version: VERSION, startedAt }, () =>
      checkReadiness({
        store,
        writes,
        draining: () => calls.draining,
        signaturesChecked: config.twilio.validateSignatures,
      })),
    {
      method: "GET",
      path: "/metrics",
      handler: requireBearer(
        config.metricsToken,
        async () =>
          new Response(await metrics.render(), {
            headers: { "content-type": metrics.contentType },
          }),
      ),
    },
    ...(operatorConsole?.routes ?? []),
    ...adminRoutes({ config, store }),
    ...reminderRoutes({ config, calls: reminders?.calls, links: reminders?.links, store }),
    ...twilioRoutes({
      config,
      admission: () => {
        const admission = calls.admission();
        metrics.webhooks.inc({
          route: "voice",
          result: admission.accept ? "accepted" : admission.reason,
        });
        return admission;
      },
      onIncomingCall: (info) => calls.onIncomingCall(info),
      onStream: (stream, start) => calls.onStream(stream, start),
      callRecorded: async (callSid) => (await store.getCall(callSid)) !== undefined,
      refuseCall: control
        ? (callSid) =>
          control.redirect(
            callSid,
            cannotServeTwiml({ transferNumber: config.transferNumber }),
          )
        : undefined,
      onRefused: (reason) =>
        metrics.webhooks.inc(
          reason === "replayed_webhook"
            ? { route: "voice", result: "replayed" }
            : { route: "media", result: reason },
        ),
      onProtocolError: (reason) => metrics.protocolErrors.inc({ side: "twilio", reason }),
      sockets: mediaSockets,
      onCallStatus: (info) =>
        void calls.onTwilioStatus(info.callSid, "twilioStatus", {
          status: info.callStatus,
          duration: info.duration,
          from: info.params.From,
          to: info.params.To,
        }),
      onStreamStatus: (info) => {
        if (info.streamEvent !== "stream-error") return;
        metrics.protocolErrors.inc({ side: "twilio", reason: "stream_error" });
        void calls.onTwilioStatus(info.callSid, "streamError", {
          streamSid: info.streamSid,
          error: info.streamError,
        });
      },
    }),
  ];
  server.setRoutes(routes);
  reminders?.start();
  retention.start();
  const host = server.addr.hostname === "0.0.0.0" ? "127.0.0.1" : server.addr.hostname;
  let stopping: Promise<void> | undefined;
  return {
    server,
    baseUrl: `http://${host}:${server.addr.port}`,
    calls,
    store,
    metrics,
    get profile() {
      return profiles.current;
    },
    reloadProfile: () => profiles.reload(),
    reminders,
    stop() {
      stopping ??= (async () => {
        await reminders?.stop();
        log.info("shutting down: draining {count} calls for up to {seconds} s", {
          count: calls.activeCount,
          seconds: config.limits.drainSeconds,
        });
        await calls.drain(
          config.limits.drainSeconds * 1000,
          (overrides.goodbyeSeconds ?? 15) * 1000,
        );
        operatorConsole?.close(); // open live streams would hold the shutdown
        // A clean close frame for every media socket left (Twilio sees 1000, not a cut).
        await mediaSockets.closeAll(1000, "service shutting down", 2000);
        await server.shutdown();
        await retention.stop();
        await store.close();
        log.info("stopped");
      })();
      return stopping;
    },
  };
}
