/**
 * What the hot-path JSON scanners (`twilio/media_scan.ts`, `realtime/delta_scan.ts`) must
 * rule out to read a string member as the text between its quotes: JSON allows no raw
 * control character in a string (`JSON.parse` refuses the message), and a backslash
 * starts an escape.
 *
 * @module
 */

/** Whether `s` holds a character below U+0020 between `start` and `end` (exclusive). */
export function hasControlChar(s: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (s.charCodeAt(i) < 32) return true;
  return false;
}
