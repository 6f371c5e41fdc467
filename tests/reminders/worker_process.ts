/**
 * One service instance's reminder worker as its own process, for the test that kills an
 * instance while it dials (not a test by itself).
 *
 * Environment: the service's variables (`DATABASE_URL`, `REMINDERS`, …) plus
 * `FAKE_TWILIO_REST` (where the fake REST API listens) and `LEASE_MS`. Prints `ready` once
 * its worker runs; then works until it is killed.
 *
 * @module
 */
import { loadConfig } from "../../src/config.ts";
import { loadBusinessProfile } from "../../src/booking/business.ts";
import { openStore } from "../../src/booking/store.ts";
import { TwilioCallControl } from "../../src/twilio/rest.ts";
import { ReminderService } from "../../src/reminders/service.ts";
import { RedirectingRequestClient } from "../support/fake_twilio_rest.ts";

const env = Deno.env.toObject();
const config = loadConfig(env);
const profile = loadBusinessProfile(config.businessFile!);
const store = await openStore(config.databaseUrl, profile);
const control = new TwilioCallControl({
  accountSid: config.twilio.accountSid!,
  authToken: config.twilio.authToken,
  httpClient: new RedirectingRequestClient(env.FAKE_TWILIO_REST),
});
const reminders = await ReminderService.create({
  config,
  profile,
  store,
  twilio: control,
  host: {
    admission: () => ({ accept: true }),
    onIncomingCall: () => {},
    outboundCapacity: () => 10,
  },
  canTransfer: false,
  timing: { tickMs: 50, leaseMs: Number(env.LEASE_MS) },
  owner: "doomed-instance",
});
reminders.start();
console.log("ready");
