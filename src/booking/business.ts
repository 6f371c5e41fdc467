/**
 * The business profile: who the receptionist works for, when it is open, what it sells.
 *
 * Loaded once at start-up from a JSON file (`BUSINESS_FILE`), validated with zod. A broken
 * file stops start-up with {@linkcode BusinessProfileError}, whose message lists every
 * problem with the JSON path of the field, e.g.
 * `services[2].durationMinutes: expected a positive integer`.
 *
 * @module
 */
import { z } from "zod";
import { errorMessage } from "../errors.ts";

/** The bundled example profile (a hair salon), used when `BUSINESS_FILE` is not set. */
export const DEFAULT_BUSINESS_FILE: URL = new URL(
  "../../assets/business.example.json",
  import.meta.url,
);

/** Days of the week in ISO order (Monday = 1 … Sunday = 7), as used in `openingHours`. */
export const WEEKDAYS = [
  "monday",
  "tuesday",
  "wednesday",
  "thursday",
  "friday",
  "saturday",
  "sunday",
] as const;

/** A weekday key of `openingHours`. */
export type Weekday = typeof WEEKDAYS[number];

const TIME_RE = /^(?:[01]\d|2[0-3]):[0-5]\d$/;

/** Minutes since midnight for an `HH:MM` string; `24:00` is the end of the day (1440). */
export function minutesOfDay(hhmm: string): number {
  const [h, m] = hhmm.split(":").map(Number);
  return h * 60 + m;
}

function isIanaZone(zone: string): boolean {
  try {
    // Temporal accepts offsets like "+01:00" too; an IANA name is what DST handling needs.
    return zone.includes("/") || zone === "UTC"
      ? Temporal.Now.instant().toZonedDateTimeISO(zone).timeZoneId.length > 0
      : false;
  } catch {
    return false;
  }
}

function isLocale(locale: string): boolean {
  try {
    return Intl.getCanonicalLocales(locale).length === 1;
  } catch {
    return false;
  }
}

function isPlainDate(value: string): boolean {
  try {
    Temporal.PlainDate.from(value, { overflow: "reject" });
    return /^\d{4}-\d{2}-\d{2}$/.test(value);
  } catch {
    return false;
  }
}

const positiveInt = (what: string) =>
  z.number({ error: `expected ${what}` }).int({ error: `expected ${what}` }).positive({
    error: `expected ${what}`,
  });

const nonNegativeInt = (what: string) =>
  z.number({ error: `expected ${what}` }).int({ error: `expected ${what}` }).min(0, {
    error: `expected ${what}`,
  });

const text = (what: string) =>
  z.string({ error: `expected ${what}` }).trim().min(1, { error: `expected ${what}` });

/** One opening range within a day, `open` inclusive, `close` exclusive ("24:00" = midnight). */
export const OpeningRangeSchema = z.strictObject({
  open: z.string().regex(TIME_RE, { error: 'expected a time "HH:MM" (00:00-23:59)' }),
  close: z.string().refine((s) => s === "24:00" || TIME_RE.test(s), {
    error: 'expected a time "HH:MM" (00:01-24:00)',
  }),
});

/** An opening range, e.g. `{ open: "09:00", close: "12:30" }`. */
export type OpeningRange = z.infer<typeof OpeningRangeSchema>;

const DayHoursSchema = z.array(OpeningRangeSchema, {
  error: "expected a list of opening ranges (empty when closed)",
}).superRefine((ranges, ctx) => {
  let previousClose = -1;
  ranges.forEach((range, i) => {
    if (!TIME_RE.test(range.open) || !(range.close === "24:00" || TIME_RE.test(range.close))) {
      return; // already reported by the field schema
    }
    const open = minutesOfDay(range.open);
    const close = minutesOfDay(range.close);
    if (close <= open) {
      ctx.addIssue({ code: "custom", path: [i, "close"], message: "must be after open" });
    }
    if (open < previousClose) {
      ctx.addIssue({
        code: "custom",
        path: [i, "open"],
        message: "ranges must be in order and must not overlap",
      });
    }
    previousClose = Math.max(previousClose, close);
  });
});

/**
 * When reminder calls and texts may go out, in the business's local time: `start` inclusive,
 * `end` exclusive (`"24:00"` = midnight). Never on a closed date.
 */
export const CallingWindowSchema = z.strictObject({
  start: z.string().regex(TIME_RE, { error: 'expected a time "HH:MM" (00:00-23:59)' }),
  end: z.string().refine((s) => s === "24:00" || TIME_RE.test(s), {
    error: 'expected a time "HH:MM" (00:01-24:00)',
  }),
}).refine((w) => minutesOfDay(w.end) > minutesOfDay(w.start), {
  error: "end must be after start",
  path: ["end"],
});

/** A calling window, e.g. `{ start: "09:00", end: "19:00" }`. */
export type CallingWindow = z.infer<typeof CallingWindowSchema>;

/** The calling window used when the profile names none. */
export const DEFAULT_CALLING_WINDOW: CallingWindow = { start: "09:00", end: "19:00" };

/** A bookable service. `aliases` help match what a caller says ("blowout" → "Blow-dry"). */
export const ServiceSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, {
    error: "expected a lowercase id (letters, digits, '-' or '_')",
  }),
  name: text("a non-empty name"),
  aliases: z.array(text("a non-empty alias")).default([]),
  durationMinutes: positiveInt("a positive integer"),
  price: z.number({ error: "expected a number" }).nonnegative({
    error: "expected a number >= 0",
  }),
  currency: z.string().regex(/^[A-Z]{3}$/, { error: "expected an ISO 4217 code like USD" }),
  description: text("a non-empty description").optional(),
});

/** A bookable service. */
export type Service = z.infer<typeof ServiceSchema>;

/** A day the business is closed although its weekday normally is open. */
export const ClosedDateSchema = z.strictObject({
  date: z.string().refine(isPlainDate, { error: 'expected a date "YYYY-MM-DD"' }),
  reason: text("a non-empty reason").optional(),
});

/** A closed date, e.g. `{ date: "2026-12-25", reason: "Christmas Day" }`. */
export type ClosedDate = z.infer<typeof ClosedDateSchema>;

/** The whole business profile file. */
export const BusinessProfileSchema = z.strictObject({
  name: text("a non-empty name"),
  phone: text("a phone number"),
  address: text("an address"),
  timeZone: z.string().refine(isIanaZone, {
    error: 'expected an IANA time zone like "America/New_York"',
  }),
  locale: z.string().refine(isLocale, { error: 'expected a BCP 47 locale like "en-US"' }),
  language: z.string().regex(/^[a-z]{2,3}$/, {
    error: 'expected an ISO 639 language code like "en"',
  }),
  greeting: text("a greeting line"),
  /** Said before the greeting when calls are recorded (`RECORD_CALLS=on`). */
  recordingDisclosure: text("a sentence telling callers the call is recorded").optional(),
  openingHours: z.strictObject(
    Object.fromEntries(WEEKDAYS.map((d) => [d, DayHoursSchema])) as Record<
      Weekday,
      typeof DayHoursSchema
    >,
  ),
  closedDates: z.array(ClosedDateSchema).default([]),
  services: z.array(ServiceSchema).min(1, { error: "expected at least one service" })
    .superRefine((services, ctx) => {
      const seen = new Map<string, number>();
      services.forEach((s, i) => {
        const earlier = seen.get(s.id);
        if (earlier !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [i, "id"],
            message: `duplicate id (also services[${earlier}])`,
          });
        }
        seen.set(s.id, i);
      });
    }),
  capacity: positiveInt("a positive integer (appointments that can overlap)"),
  slotStepMinutes: positiveInt("a positive integer").max(240, { error: "expected at most 240" }),
  minNoticeMinutes: nonNegativeInt("an integer >= 0"),
  bookingHorizonDays: positiveInt("a positive integer"),
  policies: z.strictObject({
    cancellation: text("a cancellation policy"),
    payment: text("a payment policy"),
    other: text("non-empty text").optional(),
  }),
  /** Reminder calls and texts only inside this window (default 09:00-19:00 local). */
  callingWindow: CallingWindowSchema.optional(),
});

/** A validated business profile. */
export type BusinessProfile = z.infer<typeof BusinessProfileSchema>;

/** What callers hear first when calls are recorded and the profile says nothing else. */
export const DEFAULT_RECORDING_DISCLOSURE =
  "Just so you know, this call is recorded, so we keep an accurate record of what we agree.";

/**
 * The greeting the agent says: the profile's greeting, preceded by the recording
 * disclosure (the profile's own, or {@linkcode DEFAULT_RECORDING_DISCLOSURE}) when calls
 * are recorded.
 */
export function greetingFor(profile: BusinessProfile, recording: boolean): string {
  if (!recording) return profile.greeting;
  return `${profile.recordingDisclosure ?? DEFAULT_RECORDING_DISCLOSURE} ${profile.greeting}`;
}

/** A business profile file that could not be read, parsed or validated. */
export class BusinessProfileError extends Error {
  /** One entry per problem, each `path: message`. */
  readonly problems: string[];

  /** Builds the error; the message names the file and lists every problem. */
  constructor(source: string, problems: string[]) {
    super(`Invalid business profile ${source}:\n  - ${problems.join("\n  - ")}`);
    this.name = "BusinessProfileError";
    this.problems = problems;
  }
}

/** Formats a zod issue path as `services[2].durationMinutes`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out === "" ? "(root)" : out;
}

/**
 * Validates an already-parsed value as a business profile.
 *
 * @example
 * ```ts
 * const text = await Deno.readTextFile("business.json");
 * const profile = parseBusinessProfile(JSON.parse(text), "business.json");
 * ```
 */
export function parseBusinessProfile(value: unknown, source = "(value)"): BusinessProfile {
  const result = BusinessProfileSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      const where = issue.path.length ? `${formatPath(issue.path)}: ` : "";
      return `${where}unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    }
    return `${formatPath(issue.path)}: ${issue.message}`;
  });
  throw new BusinessProfileError(source, problems);
}

/**
 * Reads and validates a business profile JSON file.
 *
 * @throws {BusinessProfileError} when the file is missing, is not JSON, or fails validation.
 * @example
 * ```ts
 * const profile = loadBusinessProfile(Deno.env.get("BUSINESS_FILE") ?? DEFAULT_BUSINESS_FILE);
 * ```
 */
export function loadBusinessProfile(path: string | URL): BusinessProfile {
  const source = path instanceof URL && path.protocol === "file:"
    ? decodeURIComponent(path.pathname)
    : String(path);
  let raw: string;
  try {
    raw = Deno.readTextFileSync(path);
  } catch (err) {
    throw new BusinessProfileError(source, [`cannot read file: ${errorMessage(err)}`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new BusinessProfileError(source, [`not valid JSON: ${errorMessage(err)}`]);
  }
  return parseBusinessProfile(value, source);
}

function normalizeName(s: string): string {
  return s.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
    .replace(/[’']/g, "").replace(/[^a-z0-9]+/g, " ").trim();
}

/**
 * Finds a service by id, name or alias, ignoring case, accents, apostrophes and punctuation
 * ("Womens cut", "women's CUT" and "womens-cut" all find "Women's cut").
 */
export function findService(profile: BusinessProfile, nameOrAlias: string): Service | undefined {
  const wanted = normalizeName(nameOrAlias);
  if (wanted === "") return undefined;
  return profile.services.find((s) =>
    normalizeName(s.id) === wanted || normalizeName(s.name) === wanted ||
    s.aliases.some((a) => normalizeName(a) === wanted)
  );
}
