/**
 * One helper for every reminder change: runs a state-machine function under the store's
 * row lock and tells whether it applied.
 *
 * @module
 */
import type { Reminder, ReminderChange, ReminderStore } from "../booking/types.ts";

/**
 * Applies `change` to a reminder in one store transaction. Resolves with the reminder as
 * written, or undefined when `change` declined (the event no longer applies).
 */
export async function updated(
  store: Pick<ReminderStore, "updateReminder">,
  bookingId: string,
  change: ReminderChange,
): Promise<Reminder | undefined> {
  let written: Reminder | undefined;
  // A retried transaction runs `change` again: the last run is what was written.
  await store.updateReminder(bookingId, (r, b) => (written = change(r, b)));
  return written;
}
