/**
 * Phone number facts shared by the configuration, the call and the tools.
 *
 * @module
 */

/** An E.164 number: `+`, a country code that does not start with 0, 7 to 15 digits in all. */
export const E164_PATTERN: RegExp = /^\+[1-9]\d{6,14}$/;

/** The number Twilio sends in `From` for a caller who withheld their number. */
const WITHHELD_CALLER_ID = "+266696687";

/**
 * The caller's number when it is a real E.164 number (Twilio sends e.g. "anonymous" or
 * "+266696687" for withheld caller ID; bookings must not default to those).
 *
 * @example
 * ```ts
 * import { callerNumber } from "./phone.ts";
 * callerNumber("+12125550100"); // "+12125550100"
 * callerNumber("anonymous"); // undefined
 * ```
 */
export function callerNumber(from: string | undefined): string | undefined {
  return from && E164_PATTERN.test(from) && from !== WITHHELD_CALLER_ID ? from : undefined;
}
