/**
 * Error text for logs and messages, from anything that was thrown.
 *
 * @module
 */

/**
 * The message of a thrown value: `Error.message`, or the value as a string.
 *
 * @example
 * ```ts
 * import { errorMessage } from "./errors.ts";
 * errorMessage(new Error("boom")); // "boom"
 * errorMessage("plain"); // "plain"
 * ```
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
