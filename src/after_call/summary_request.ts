/**
 * The after-call question to the model: one out-of-band response (`response.create` with
 * `conversation: "none"`, text output) whose input references the call's conversation item
 * by item, followed by the request. Out of band, nothing is added to the conversation, and
 * it may run while a default-conversation response is still finishing. Its answer is taken
 * from `response.done` (the completed response carries its output text).
 *
 * The shapes follow the official `openai` package (`realtime.d.ts`: `ResponseCreateEvent`,
 * `RealtimeResponseCreateParams.conversation | input | output_modalities | metadata`,
 * `ResponseItemReference`).
 *
 * @module
 */
import type { ConnectionEvents, ConnectionState } from "../realtime/connection.ts";
import type { ServerEvent } from "../realtime/protocol.ts";

/** What the summary needs of the model session. `RealtimeConnection` satisfies it. */
export interface OutOfBandSession {
  readonly state: ConnectionState;
  /** Sends a client event (JSON text); false when no session is open. */
  send(text: string): boolean;
  on<K extends keyof ConnectionEvents>(
    name: K,
    fn: (...args: ConnectionEvents[K]) => void,
  ): () => void;
}

/** `metadata.purpose` of the summary response (how its events are told apart). */
export const SUMMARY_PURPOSE = "call_summary";

/** Most conversation items referenced (the newest are kept). */
const MAX_REFERENCES = 400;

/**
 * The ids of the conversation items of the current model session, in order, from the
 * server's own `conversation.item.added` events. A fresh session (reconnect, rollover)
 * starts a fresh list: its re-injected items get new ids, reported the same way.
 */
export class ConversationItems {
  #ids: string[] = [];
  readonly #off: Array<() => void>;

  /** Starts following `session`. */
  constructor(session: Pick<OutOfBandSession, "on">) {
    this.#off = [
      session.on("event", (e) => this.#observe(e)),
      session.on("session", (info) => {
        if (info.reason !== "initial") this.#ids = [];
      }),
    ];
  }

  /** The item ids, oldest first. */
  get ids(): readonly string[] {
    return this.#ids;
  }

  /** Stops following the session. */
  stop(): void {
    for (const off of this.#off) off();
  }

  #observe(e: ServerEvent): void {
    if (e.type === "conversation.item.added") {
      const id = e.item.id;
      if (id !== undefined && !this.#ids.includes(id)) this.#ids.push(id);
    } else if (e.type === "conversation.item.deleted") {
      this.#ids = this.#ids.filter((id) => id !== e.item_id);
    }
  }
}

/** The `response.create` event asking for the summary. */
export function summaryRequestEvent(
  eventId: string,
  itemIds: readonly string[],
  instructions: string,
  question: string,
): string {
  return JSON.stringify({
    type: "response.create",
    event_id: eventId,
    response: {
      conversation: "none",
      output_modalities: ["text"],
      instructions,
      tool_choice: "none",
      metadata: { purpose: SUMMARY_PURPOSE, request: eventId },
      input: [
        ...itemIds.slice(-MAX_REFERENCES).map((id) => ({ type: "item_reference", id })),
        { type: "message", role: "user", content: [{ type: "input_text", text: question }] },
      ],
    },
  });
}

/** How the question was answered. */
export type SummaryAnswer =
  | { kind: "text"; text: string }
  /** The session was not open, or closed or dropped before the answer. */
  | { kind: "unavailable"; reason: string }
  /** The server refused the request or did not complete the response. */
  | { kind: "failed"; reason: string }
  | { kind: "timeout" };

/** Options of {@linkcode askForSummary}. */
export interface AskOptions {
  session: OutOfBandSession;
  itemIds: readonly string[];
  instructions: string;
  question: string;
  /** Aborted when the answer is no longer awaited. */
  signal: AbortSignal;
  /** The client event id (default: a random one). */
  eventId?: string;
}

/** Sends the out-of-band request and waits for its answer; never rejects. */
export function askForSummary(o: AskOptions): Promise<SummaryAnswer> {
  const { session, signal } = o;
  if (session.state !== "open") {
    const reason = session.state === "closed"
      ? "the model session had closed"
      : `the model session was ${session.state}`;
    return Promise.resolve({ kind: "unavailable", reason });
  }
  if (signal.aborted) return Promise.resolve({ kind: "timeout" });
  const eventId = o.eventId ??
    `evt_summary_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const { promise, resolve } = Promise.withResolvers<SummaryAnswer>();
  let responseId: string | undefined;
  const isOurs = (response: { id?: string; metadata?: unknown }) => {
    const meta = response.metadata as { purpose?: unknown; request?: unknown } | undefined;
    return (responseId !== undefined && response.id === responseId) ||
      (meta?.purpose === SUMMARY_PURPOSE && meta.request === eventId);
  };
  const offs = [
    session.on("event", (e) => {
      if (e.type === "error" && e.error.event_id === eventId) {
        resolve({ kind: "failed", reason: `${e.error.code ?? e.error.type}: ${e.error.message}` });
      } else if (e.type === "response.created" && isOurs(e.response)) {
        responseId = e.response.id;
      } else if (e.type === "response.done" && isOurs(e.response)) {
        const status = e.response.status;
        if (status !== "completed") {
          resolve({ kind: "failed", reason: `the response ended ${status}` });
        } else resolve({ kind: "text", text: outputText(e.response.output ?? []) });
      }
    }),
    session.on("state", (state) => {
      if (state !== "open") {
        resolve({ kind: "unavailable", reason: `the model session ${state} before answering` });
      }
    }),
  ];
  const onAbort = () => resolve({ kind: "timeout" });
  signal.addEventListener("abort", onAbort, { once: true });
  const sent = session.send(summaryRequestEvent(eventId, o.itemIds, o.instructions, o.question));
  if (!sent) resolve({ kind: "unavailable", reason: "the request could not be sent" });
  return promise.finally(() => {
    for (const off of offs) off();
    signal.removeEventListener("abort", onAbort);
  });
}

/** The text of a response's output items (`output_text` content parts). */
function outputText(
  output: readonly { type: string; content?: { type?: string; text?: string | null }[] }[],
): string {
  return output
    .filter((item) => item.type === "message")
    .flatMap((item) => item.content ?? [])
    .filter((part) => (part.type === "output_text" || part.type === "text") && part.text)
    .map((part) => part.text!)
    .join("");
}
