/** Scripted model behaviour shared by the end-to-end tests, the fake model and the demo. */
import type { FakeItem, FakeSession, Responder, ResponseContext } from "./fake_realtime.ts";

/** A slot as the booking tools return it. */
interface SlotOut {
  start: string;
  label: string;
}

/** The slot a tool result offers first: free slots, else the next available, else alternatives. */
function firstOffered(output: Record<string, unknown>): SlotOut | undefined {
  for (const key of ["slots", "next_available", "alternatives"]) {
    const list = output[key];
    if (Array.isArray(list) && list.length > 0) return list[0] as SlotOut;
  }
  return undefined;
}

/** Parsed outputs of the tool results in a conversation, newest first. */
function toolOutputs(
  items: readonly FakeItem[],
): { name: string; output: Record<string, unknown> }[] {
  const out: { name: string; output: Record<string, unknown> }[] = [];
  for (const item of [...items].reverse()) {
    if (item.type !== "function_call_output" || !item.output) continue;
    const call = items.find((i) => i.type === "function_call" && i.callId === item.callId);
    try {
      out.push({ name: call?.name ?? "", output: JSON.parse(item.output) });
    } catch { /* not JSON: not a booking tool's answer */ }
  }
  return out;
}

/** A model that greets, looks up afternoon slots, reads one back, and books it. */
export function bookingResponder(date: string): Responder {
  return (ctx) => {
    const last = ctx.lastItem;
    // The greeting the service asks for, or the model's own answer to a sound before the
    // caller said anything (its VAD response can race the greeting request).
    if (
      (ctx.trigger === "response.create" && ctx.instructions?.includes("Greet the caller")) ||
      (ctx.trigger === "turn" && ctx.items.length === 0)
    ) {
      return { audioMs: 1200, transcript: "Thanks for calling, how can I help?" };
    }
    if (last?.type === "function_call_output" && last.output) {
      const out = JSON.parse(last.output);
      if (out.slots?.length) {
        return { audioMs: 1500, transcript: `I have ${out.slots[0].label}. Does that work?` };
      }
      if (out.next_available?.length) {
        // A closed or full day: offer the next free time instead.
        return {
          audioMs: 1500,
          transcript: `The next free time is ${out.next_available[0].label}. Does that work?`,
        };
      }
      if (out.status === "confirmed") {
        return { audioMs: 1000, transcript: `You're booked, reference ${out.booking_id}.` };
      }
      if (out.status === "unavailable") {
        return {
          audioMs: 1000,
          transcript: `Sorry, that was just taken. I could do ${out.alternatives[0]?.label}.`,
        };
      }
      return { audioMs: 800, transcript: "Sorry, something went wrong." };
    }
    const said = ctx.lastUserText ?? "";
    if (/book/i.test(said)) {
      return {
        functionCalls: [{
          name: "get_slots",
          arguments: JSON.stringify({ service: "men's cut", date, part_of_day: "afternoon" }),
        }],
      };
    }
    if (/works/i.test(said)) {
      const offered = toolOutputs(ctx.items).map((t) => firstOffered(t.output)).find(Boolean);
      if (!offered) return { audioMs: 800, transcript: "Sorry, which time would you like?" };
      return {
        functionCalls: [{
          name: "book_slot",
          arguments: JSON.stringify({
            service: "men's cut",
            start: offered.start,
            customer_name: "Sam Rivera",
          }),
        }],
      };
    }
    return { audioMs: 500, transcript: "Okay." };
  };
}

export const TRANSCRIPTS = [
  "Hi, I'd like to book a haircut tomorrow afternoon.",
  "Two thirty works. My name is Sam Rivera.",
];

/** What the fake model hears from the fake model's default caller, turn by turn. */
export const RECEPTIONIST_CALLER_LINES = [
  "Hi, I'd like to book a men's cut tomorrow afternoon.",
  "That works, my name is Sam.",
  "No, that's all. Thank you, goodbye.",
];

/** Options of {@linkcode receptionistResponder}. */
export interface ReceptionistOptions {
  /** The service booked when the caller names none the script knows (default "men's cut"). */
  service?: string;
  /** Today's date in the business zone: spoken dates ("Tuesday 1 December") take its year. */
  today?: () => Temporal.PlainDate;
}

const MONTHS = [
  "january",
  "february",
  "march",
  "april",
  "may",
  "june",
  "july",
  "august",
  "september",
  "october",
  "november",
  "december",
];
const SPOKEN_START = new RegExp(
  String.raw`(\d{1,2}) (${MONTHS.join("|")}) at (\d{1,2}):(\d{2})\s*(am|pm)?`,
  "i",
);
const SERVICES = /\b(men's cut|women's cut|kids' cut|colour|color|highlights|blow-dry)\b/i;

/**
 * A start time spoken the way the booking tools label slots (`Tuesday 1 December at 9:00 AM`),
 * as a wall-clock time in the business zone (`2026-12-01T09:00`), in the first year that puts
 * it on or after `today`.
 */
export function spokenStart(text: string, today: Temporal.PlainDate): string | undefined {
  const m = SPOKEN_START.exec(text);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2].toLowerCase()) + 1;
  const period = m[5]?.toLowerCase();
  const hour = period ? (Number(m[3]) % 12) + (period === "pm" ? 12 : 0) : Number(m[3]);
  let date = Temporal.PlainDate.from({ year: today.year, month, day: Number(m[1]) });
  if (Temporal.PlainDate.compare(date, today) < 0) date = date.add({ years: 1 });
  const time = Temporal.PlainTime.from({ hour, minute: Number(m[4]) });
  return date.toPlainDateTime(time).toString({ smallestUnit: "minute" });
}

/** The caller's name as they said it anywhere in the conversation ("my name is Sam"). */
function callerName(items: readonly FakeItem[]): string | undefined {
  for (const item of [...items].reverse()) {
    if (item.role !== "user" || !item.text) continue;
    const m = /\b(?:[Mm]y name is|[Tt]his is|I'm|I am) ([A-Z][a-z]+)/.exec(item.text);
    if (m) return m[1];
  }
  return undefined;
}

/** Roughly how long it takes to say `text` (the fake "speaks" a tone of this length). */
function speakingMs(text: string): number {
  const words = text.split(/\s+/).length;
  return Math.min(3500, Math.max(600, words * 170));
}

function say(transcript: string) {
  return { audioMs: speakingMs(transcript), transcript };
}

/** What the model says about a tool's result. */
function speakResult(name: string, out: Record<string, unknown>) {
  const error = out.error as { message?: string } | undefined;
  if (error) return say(`Sorry, I could not do that: ${error.message ?? "an error"}.`);
  if (name === "get_slots") {
    const slots = (out.slots as SlotOut[] | undefined) ?? [];
    const next = (out.next_available as SlotOut[] | undefined) ?? [];
    if (slots.length > 0) return say(`I have ${slots[0].label}. Does that work?`);
    const why = out.closed
      ? `We are closed on ${out.date_label}${
        out.closed_reason && out.closed_reason !== "not open that day"
          ? ` for ${out.closed_reason}`
          : ""
      }.`
      : `${out.date_label} is fully booked.`;
    if (next.length > 0) {
      return say(`${why} The next free time is ${next[0].label}. Does that work?`);
    }
    return say(`${why} I am sorry, I have nothing free soon.`);
  }
  if (name === "book_slot") {
    if (out.status === "confirmed") {
      return say(
        `You're booked for a ${out.service} on ${out.label}, reference ${out.booking_id}. ` +
          "Is there anything else?",
      );
    }
    const alternative = firstOffered(out);
    if (out.status === "unavailable" && alternative) {
      return say(
        `Sorry, that time is fully booked. I could do ${alternative.label} instead. ` +
          "Would that work?",
      );
    }
    return say(`Sorry, I could not book that: ${out.message ?? out.reason}.`);
  }
  return say("Done.");
}

/**
 * A receptionist script for the fake model: one pure function of the session's own
 * conversation, so any number of calls can run at once, each at its own point.
 *
 * - Greets with the business greeting the service asks for; answers the service's own
 *   prompts (idle check-in, wrap-up goodbye).
 * - "book ... tomorrow afternoon": `get_slots` for that day; a closed or full day is answered
 *   with the next free time from `next_available`, so the script works on any day of the year.
 * - "... on Tuesday 1 December at 9:00 AM": `book_slot` for that start (the caller gave
 *   service, time and name); a full slot is answered with the alternatives the store offers.
 * - "that works" / "yes": books the slot offered last, in the caller's name.
 * - "goodbye": says goodbye.
 */
export function receptionistResponder(options: ReceptionistOptions = {}): Responder {
  const defaultService = options.service ?? "men's cut";
  const today = options.today ?? (() => Temporal.Now.plainDateISO());
  return (ctx: ResponseContext) => {
    const last = ctx.lastItem;
    if (ctx.trigger === "response.create" && ctx.instructions?.includes("Greet the caller")) {
      const greeting = /Greet the caller by saying exactly: "(.+)"/.exec(ctx.instructions)?.[1];
      return say(greeting ?? "Thanks for calling, how can I help?");
    }
    if (last?.role === "system") {
      const text = last.text ?? "";
      if (/silent/.test(text)) return say("Are you still there?");
      if (/goodbye/.test(text)) return say("Thanks for calling, goodbye.");
    }
    if (last?.type === "function_call_output") {
      const [newest] = toolOutputs(ctx.items);
      return newest ? speakResult(newest.name, newest.output) : say("Sorry, something went wrong.");
    }
    const said = ctx.lastUserText ?? "";
    const service = SERVICES.exec(said)?.[1] ?? defaultService;
    const name = callerName(ctx.items) ?? "Sam";
    const start = spokenStart(said, today());
    if (start) {
      return call("book_slot", { service, start, customer_name: name });
    }
    if (/\b(book|appointment)\b/i.test(said)) {
      const part = /\b(morning|afternoon|evening)\b/i.exec(said)?.[1]?.toLowerCase();
      const date = /\btoday\b/i.test(said) ? "today" : "tomorrow";
      return call("get_slots", { service, date, ...(part ? { part_of_day: part } : {}) });
    }
    if (/\b(works|yes|sounds good|okay)\b/i.test(said)) {
      const offered = toolOutputs(ctx.items).map((t) => firstOffered(t.output)).find(Boolean);
      if (!offered) return say("Sorry, which time would you like?");
      // The service booked is the one asked about last.
      const asked = [...ctx.items].reverse().find((i) => i.type === "function_call")?.arguments;
      const askedService = asked ? (JSON.parse(asked) as { service?: string }).service : undefined;
      return call("book_slot", {
        service: askedService ?? service,
        start: offered.start,
        customer_name: name,
      });
    }
    if (/\b(bye|goodbye|that's all)\b/i.test(said)) return say("Thanks for calling, goodbye!");
    return say("Sorry, could you say that again?");
  };
}

function call(name: string, args: Record<string, unknown>) {
  return { functionCalls: [{ name, arguments: JSON.stringify(args) }] };
}

/** The caller's number as the service put it in the session's instructions, if any. */
export function callerNumberOf(session: FakeSession): string | undefined {
  const instructions = String(session.config.instructions ?? "");
  return /The caller's number is (\+\d+)/.exec(instructions)?.[1];
}

/** One tool call of a {@linkcode toolChainResponder}: its name and arguments, from the outputs so far. */
export type ChainStep = (outputs: Record<string, unknown>[]) => {
  name: string;
  args: Record<string, unknown>;
};

/**
 * A model that greets, then on the caller's first turn calls each step's tool in order,
 * one response per tool (the next step sees every output so far), and finally says
 * `done`. The outputs are in the fake session's `function_call_output` items.
 */
export function toolChainResponder(steps: ChainStep[], done = "All done."): Responder {
  return (ctx) => {
    if (ctx.trigger === "response.create" && ctx.instructions?.includes("Greet the caller")) {
      return { audioMs: 300, transcript: "Maple and Main, how can I help?" };
    }
    const outputs = ctx.items.filter((i) => i.type === "function_call_output")
      .map((i) => JSON.parse(i.output!) as Record<string, unknown>);
    const started = ctx.items.some((i) => i.role === "user" && i.origin === "audio");
    const step = started ? steps[outputs.length] : undefined;
    if (!step) return { audioMs: 300, transcript: started ? done : "Okay." };
    const { name, args } = step(outputs);
    return { functionCalls: [{ name, arguments: JSON.stringify(args) }] };
  };
}
