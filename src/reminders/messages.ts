/**
 * What the customer hears or reads in a reminder: the agent's opening line and
 * instructions for a person, the message left after a voicemail's beep, the text message,
 * and the numbers in them (dialable E.164, and a form text-to-speech reads digit by digit).
 *
 * @module
 */
import type { BusinessProfile } from "../booking/business.ts";
import type { Booking } from "../booking/types.ts";
import { buildInstructions } from "../agent/prompt.ts";
import { E164_PATTERN } from "../phone.ts";

/**
 * The customer's number in E.164 (what Twilio dials): kept when it has a `+`; a national
 * number gets the business's country code when the business is in the North American plan
 * (+1, ten digits). Undefined when it cannot be made dialable.
 */
export function dialableNumber(phone: string, businessPhone: string): string | undefined {
  const digits = phone.replace(/\D/g, "");
  if (phone.trim().startsWith("+")) {
    const e164 = `+${digits}`;
    return E164_PATTERN.test(e164) ? e164 : undefined;
  }
  const business = businessPhone.replace(/\D/g, "");
  if (businessPhone.trim().startsWith("+1") && business.length === 11) {
    if (digits.length === 10) return `+1${digits}`;
    if (digits.length === 11 && digits.startsWith("1")) return `+${digits}`;
  }
  return undefined;
}

/**
 * A phone number as text-to-speech should read it: digit by digit, in the groups it was
 * written in (`+1 212 555 0142` → `1, 2 1 2, 5 5 5, 0 1 4 2`).
 */
export function spokenPhone(phone: string): string {
  const groups = phone.split(/[^0-9]+/).filter((g) => g !== "");
  return groups.map((g) => g.split("").join(" ")).join(", ");
}

function firstName(name: string): string {
  return name.trim().split(/\s+/)[0] ?? name;
}

/** The agent's first words when a person picks up. */
export function reminderGreeting(profile: BusinessProfile, booking: Booking): string {
  return `Hello, this is the booking assistant of ${profile.name}. I'm calling to remind ` +
    `${firstName(booking.customerName)} of the ${booking.serviceName} appointment on ` +
    `${booking.label}. Can you still make it?`;
}

/** Session instructions for a reminder call: the receptionist's, plus what this call is for. */
export function reminderInstructions(args: {
  profile: BusinessProfile;
  booking: Booking;
  now: Temporal.Instant;
  customerNumber: string;
  canTransfer: boolean;
}): string {
  const { profile, booking } = args;
  return [
    buildInstructions({
      profile,
      now: args.now,
      callerNumber: args.customerNumber,
      canTransfer: args.canTransfer,
    }),
    "",
    "# This call",
    `You placed this call yourself: it is a reminder, not an incoming call. You are calling ` +
    `${booking.customerName} at ${args.customerNumber} about booking ${booking.id}: ` +
    `${booking.serviceName} on ${booking.label}. Your first words already said who you are ` +
    "and why you call, and asked whether they can still make it.",
    "- If they will come, thank them and call confirm_booking, then say goodbye and call end_call.",
    "- If they want to cancel, confirm once, call cancel_booking with booking id " +
    `${booking.id}, then say goodbye and call end_call.`,
    "- If they want another time, find one with get_slots, read it back, then call " +
    `reschedule_booking with booking id ${booking.id} and the slot's exact start.`,
    "- If they do not want reminder calls, call opt_out, tell them they will not be called " +
    "again, then say goodbye and call end_call.",
    "- If you reached the wrong person, apologise, say goodbye and call end_call; share no " +
    "details of the booking.",
  ].join("\n");
}

/** The message left on an answering machine after the beep. */
export function voicemailMessage(profile: BusinessProfile, booking: Booking): string {
  return `Hello, this is ${profile.name} with a reminder for ${
    firstName(booking.customerName)
  }: your ${booking.serviceName} appointment is on ${booking.label}. If you need to change ` +
    `or cancel it, please call us at ${spokenPhone(profile.phone)}. Again, that number is ` +
    `${spokenPhone(profile.phone)}. Thank you, goodbye.`;
}

/** The reminder text message. */
export function reminderSms(profile: BusinessProfile, booking: Booking): string {
  return `${profile.name}: reminder of your ${booking.serviceName} on ${booking.label} ` +
    `(ref ${booking.id}). To change or cancel, call ${profile.phone}. Reply STOP to opt out.`;
}

/** What a person hears when the call is answered but the booking was cancelled meanwhile. */
export function noLongerNeededMessage(profile: BusinessProfile): string {
  return `Hello, this is ${profile.name}. We were calling about an appointment that has ` +
    "since been cancelled, so there is nothing you need to do. Goodbye.";
}

/**
 * What a person hears when every line is busy as they pick up: the reminder itself, read by
 * text-to-speech, so it is not lost.
 */
export function busyReminderMessage(profile: BusinessProfile, booking: Booking): string {
  return voicemailMessage(profile, booking);
}
