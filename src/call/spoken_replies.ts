/**
 * Whether the model's replies reach the caller as speech. A completed response that said
 * something in text but sent no audio leaves the caller in silence (a known Realtime
 * behaviour after re-injected history): the call asks once more for a spoken answer, and a
 * second one in a row means the model is not usable here.
 *
 * @example
 * ```ts
 * const replies = new SpokenReplies();
 * replies.judge({ spoke: false, saidInText: true }); // "ask_again"
 * replies.judge({ spoke: false, saidInText: true }); // "give_up"
 * ```
 *
 * @module
 */
import type { ServerItem } from "../realtime/protocol.ts";

/** What to do about one completed response. */
export type SpokenVerdict = "fine" | "ask_again" | "give_up";

/** Text-only replies in a row before the model is given up on. */
export const TEXT_ONLY_LIMIT = 2;

/** Whether a response's output holds a message with no audio content (said in text only). */
export function saidInTextOnly(output: readonly ServerItem[]): boolean {
  return output.some((item) =>
    item.type === "message" &&
    !(item.content ?? []).some((c) => c.type === "output_audio" || c.type === "audio")
  );
}

/** Counts completed responses in a row that sent no audio. */
export class SpokenReplies {
  #textOnlyInARow = 0;

  /** Text-only replies in a row so far. */
  get textOnlyInARow(): number {
    return this.#textOnlyInARow;
  }

  /**
   * Judges one completed response: `spoke` when its audio reached the call, `saidInText`
   * when its output has a message without audio. A spoken reply resets the count; a reply
   * that neither spoke nor said anything (a tool call) leaves it as it is.
   */
  judge(reply: { spoke: boolean; saidInText: boolean }): SpokenVerdict {
    if (reply.spoke) {
      this.#textOnlyInARow = 0;
      return "fine";
    }
    if (!reply.saidInText) return "fine";
    this.#textOnlyInARow++;
    return this.#textOnlyInARow >= TEXT_ONLY_LIMIT ? "give_up" : "ask_again";
  }
}
