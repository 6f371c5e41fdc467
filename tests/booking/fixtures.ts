/**
 * Shared test fixtures for the booking domain: a small salon profile with known hours and
 * a controllable clock.
 *
 * @module
 */
import { type BusinessProfile, parseBusinessProfile } from "../../src/booking/business.ts";

/** Raw JSON of the test salon (America/New_York, capacity 2, step 15, notice 120, horizon 30). */
export function testProfileJson(): Record<string, unknown> {
  return {
    name: "Test Salon",
    phone: "+1 212 555 0100",
    address: "1 Test Street, New York, NY",
    timeZone: "America/New_York",
    locale: "en-US",
    language: "en",
    greeting: "Hello, Test Salon.",
    openingHours: {
      monday: [],
      tuesday: [{ open: "09:00", close: "12:00" }, { open: "13:00", close: "17:00" }],
      wednesday: [{ open: "09:00", close: "12:00" }, { open: "13:00", close: "17:00" }],
      thursday: [{ open: "09:00", close: "12:00" }, { open: "13:00", close: "17:00" }],
      friday: [{ open: "09:00", close: "12:00" }, { open: "13:00", close: "17:00" }],
      saturday: [{ open: "10:00", close: "14:00" }],
      sunday: [],
    },
    closedDates: [{ date: "2026-03-06", reason: "Staff training" }],
    services: [
      {
        id: "mens-cut",
        name: "Men's cut",
        aliases: ["gents cut"],
        durationMinutes: 30,
        price: 40,
        currency: "USD",
      },
      {
        id: "womens-cut",
        name: "Women's cut",
        aliases: ["ladies cut"],
        durationMinutes: 60,
        price: 75,
        currency: "USD",
      },
      {
        id: "colour",
        name: "Colour",
        aliases: ["color"],
        durationMinutes: 120,
        price: 140,
        currency: "USD",
      },
    ],
    capacity: 2,
    slotStepMinutes: 15,
    minNoticeMinutes: 120,
    bookingHorizonDays: 30,
    policies: { cancellation: "24 hours notice please.", payment: "Cards or cash." },
  };
}

/** The test salon, validated. `patch` replaces top-level fields. */
export function testProfile(patch: Record<string, unknown> = {}): BusinessProfile {
  return parseBusinessProfile({ ...testProfileJson(), ...patch }, "test profile");
}

/** Monday 2 March 2026, 07:00 in New York (12:00 UTC). */
export const MONDAY_7AM = Temporal.Instant.from("2026-03-02T12:00:00Z");

/** A clock tests can move. */
export class TestClock {
  /** Current instant. */
  current: Temporal.Instant;
  /** Starts at `start`. */
  constructor(start: Temporal.Instant = MONDAY_7AM) {
    this.current = start;
  }
  /** The clock function to hand to a store. */
  readonly now = (): Temporal.Instant => this.current;
  /** Moves the clock forward. */
  advance(d: Temporal.DurationLike): void {
    this.current = this.current.add(d);
  }
}
