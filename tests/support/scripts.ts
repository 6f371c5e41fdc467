/** Scripted model behaviour shared by the end-to-end tests. */
import type { Responder } from "./fake_realtime.ts";

/** A model that greets, looks up afternoon slots, reads one back, and books it. */
export function bookingResponder(date: string): Responder {
  return (ctx) => {
    const last = ctx.lastItem;
    if (ctx.trigger === "response.create" && ctx.instructions?.startsWith("Greet")) {
      return { audioMs: 1200, transcript: "Thanks for calling, how can I help?" };
    }
    if (last?.type === "function_call_output" && last.output) {
      const out = JSON.parse(last.output);
      if (out.slots?.length) {
        return { audioMs: 1500, transcript: `I have ${out.slots[0].label}. Does that work?` };
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
      const offered = [...ctx.items].reverse().find((i) =>
        i.type === "function_call_output" && i.output?.includes('"slots"')
      );
      const slot = JSON.parse(offered!.output!).slots[0];
      return {
        functionCalls: [{
          name: "book_slot",
          arguments: JSON.stringify({
            service: "men's cut",
            start: slot.start,
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
    if (ctx.trigger === "response.create" && ctx.instructions?.startsWith("Greet")) {
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
