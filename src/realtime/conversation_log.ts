/**
 * The connection's own record of the conversation so far, kept so a fresh Realtime session
 * (after a drop, or before the 60-minute limit) can be given the context and continue.
 *
 * It records what the caller said (transcripts), what the assistant said (transcripts, cut
 * to what the caller heard when an item was truncated), text messages the service added,
 * and function calls with their outputs. Item ids are those of the session that produced
 * them; re-injected copies get new ids from the new session.
 *
 * @module
 */
import {
  type ConversationItemInput,
  functionCallOutputItem,
  type ServerEvent,
  systemTextItem,
  userTextItem,
} from "./protocol.ts";
import { base64Bytes } from "./session_config.ts";

/** One entry of the record. */
export type LogEntry =
  | { kind: "user"; itemId?: string; text: string | null }
  | { kind: "system"; text: string }
  | {
    kind: "assistant";
    itemId: string;
    text: string;
    done: boolean;
    /** Audio received for the item, ms. */
    audioMs: number;
    /** Audio the caller heard, when the item was truncated. */
    heardMs?: number;
  }
  | { kind: "function_call"; callId: string; name: string; arguments: string }
  | { kind: "function_output"; callId: string; output: string };

/** The kind of the last entry, which decides whether the model should speak next. */
export type LastKind = LogEntry["kind"] | "none";

/** Keeps the conversation as a list of entries in the order the items were created. */
export class ConversationLog {
  readonly #entries: LogEntry[] = [];
  readonly #userByItem = new Map<string, Extract<LogEntry, { kind: "user" }>>();
  readonly #assistantByItem = new Map<string, Extract<LogEntry, { kind: "assistant" }>>();
  #lastAssistant: Extract<LogEntry, { kind: "assistant" }> | undefined;

  /** All entries, oldest first (read-only view). */
  get entries(): readonly LogEntry[] {
    return this.#entries;
  }

  /**
   * Records what a server event says about the conversation (items, transcripts, audio
   * lengths, function calls). `outputBytesPerMs` is the output format's rate (8 for
   * `pcmu`, 48 for 24 kHz PCM16).
   */
  observe(e: ServerEvent, outputBytesPerMs: number): void {
    switch (e.type) {
      case "response.output_audio.delta":
        this.assistantAudio(e.item_id, base64Bytes(e.delta) / outputBytesPerMs);
        break;
      case "conversation.item.added":
        if (
          e.item.type === "message" && e.item.role === "user" && e.item.id !== undefined &&
          e.item.content?.some((c) => c.type === "input_audio")
        ) this.userAudioItem(e.item.id);
        break;
      case "response.output_item.added":
        if (e.item.type === "message" && e.item.role === "assistant" && e.item.id !== undefined) {
          this.assistantItem(e.item.id);
        }
        break;
      case "conversation.item.input_audio_transcription.completed":
        this.userTranscript(e.item_id, e.transcript);
        break;
      case "response.output_audio_transcript.delta":
        this.assistantTranscriptDelta(e.item_id, e.delta);
        break;
      case "response.output_audio_transcript.done":
        this.assistantTranscriptDone(e.item_id, e.transcript);
        break;
      case "response.output_item.done":
        // The completed item has every field (`name` is not on the arguments event before
        // 2026-02); the Agents SDK takes calls from here too.
        if (e.item.type === "function_call" && e.item.call_id && e.item.name) {
          this.functionCall(e.item.call_id, e.item.name, e.item.arguments ?? "");
        }
        break;
      case "conversation.item.truncated":
        // Recorded only once the server confirms it (it deletes the item's transcript).
        this.truncated(e.item_id, e.audio_end_ms);
        break;
    }
  }

  /** A user audio item was created; its transcript arrives later (asynchronously). */
  userAudioItem(itemId: string): void {
    if (this.#userByItem.has(itemId)) return;
    const entry: LogEntry = { kind: "user", itemId, text: null };
    this.#userByItem.set(itemId, entry);
    this.#entries.push(entry);
  }

  /** The transcript of a user audio item (creates the entry if the item was not seen). */
  userTranscript(itemId: string, text: string): void {
    const entry = this.#userByItem.get(itemId);
    if (entry) entry.text = text;
    else {
      const created: LogEntry = { kind: "user", itemId, text };
      this.#userByItem.set(itemId, created);
      this.#entries.push(created);
    }
  }

  /** A user text message the service sent. */
  userText(text: string): void {
    this.#entries.push({ kind: "user", text });
  }

  /** A system text message the service sent. */
  systemText(text: string): void {
    this.#entries.push({ kind: "system", text });
  }

  /** An assistant message item started. */
  assistantItem(itemId: string): void {
    if (this.#assistantByItem.has(itemId)) return;
    const entry: LogEntry = { kind: "assistant", itemId, text: "", done: false, audioMs: 0 };
    this.#assistantByItem.set(itemId, entry);
    this.#entries.push(entry);
  }

  /** Part of the assistant's transcript (kept so a drop mid-sentence keeps what was said). */
  assistantTranscriptDelta(itemId: string, delta: string): void {
    const entry = this.#assistant(itemId);
    if (!entry.done) entry.text += delta;
  }

  /** The full transcript of an assistant item. */
  assistantTranscriptDone(itemId: string, text: string): void {
    const entry = this.#assistant(itemId);
    entry.text = text;
    entry.done = true;
  }

  /** Audio received for an assistant item, in ms. */
  assistantAudio(itemId: string, ms: number): void {
    this.#assistant(itemId).audioMs += ms;
  }

  /** Audio received so far for an assistant item of this log, ms (0 if unknown). */
  assistantAudioMs(itemId: string): number {
    return this.#assistantByItem.get(itemId)?.audioMs ?? 0;
  }

  /** Whether an assistant item with this id was recorded. */
  hasAssistantItem(itemId: string): boolean {
    return this.#assistantByItem.has(itemId);
  }

  /** The caller heard only `heardMs` of the item's audio. */
  truncated(itemId: string, heardMs: number): void {
    const entry = this.#assistantByItem.get(itemId);
    if (entry) entry.heardMs = heardMs;
  }

  /** The model called a function. */
  functionCall(callId: string, name: string, args: string): void {
    if (this.#entries.some((e) => e.kind === "function_call" && e.callId === callId)) return;
    this.#entries.push({ kind: "function_call", callId, name, arguments: args });
  }

  /** The service answered a function call. */
  functionOutput(callId: string, output: string): void {
    this.#entries.push({ kind: "function_output", callId, output });
  }

  /** Kind of the last entry that carries content (empty assistant items are skipped). */
  lastKind(): LastKind {
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      const e = this.#entries[i];
      if (e.kind === "assistant" && spokenText(e) === "") continue;
      if (e.kind === "user" && e.text === null) continue;
      return e.kind;
    }
    return "none";
  }

  /**
   * The conversation for a fresh session: everything said so far as ONE system message (a
   * transcript), followed as real items by what still awaits an answer after the agent last
   * spoke (the caller's words, tool calls with their results). Re-creating the agent's
   * turns as assistant `output_text` items can make the model answer in text only, with no
   * audio (openai-realtime-api-beta#72, livekit/agents#2471); a transcript in a system
   * message does not. At most the newest `maxEntries` entries and `maxChars` characters.
   */
  toContextItems(maxEntries = 200, maxChars = 12_000): ConversationItemInput[] {
    const entries = this.#entries.slice(-maxEntries);
    const answered = new Set<string>();
    for (const e of entries) if (e.kind === "function_output") answered.add(e.callId);
    // The tail after the agent last said something: still to be answered.
    let tailStart = entries.length;
    while (tailStart > 0) {
      const e = entries[tailStart - 1];
      if (e.kind === "assistant" && spokenText(e) !== "") break;
      tailStart--;
    }
    const lines: string[] = [];
    for (const e of entries.slice(0, tailStart)) {
      const line = transcriptLine(e, answered);
      if (line !== undefined) lines.push(line);
    }
    const items: ConversationItemInput[] = [];
    let text = lines.join("\n");
    if (text.length > maxChars) text = "…" + text.slice(text.length - maxChars);
    if (text) {
      items.push(systemTextItem(
        "This phone call is continuing on a new connection. The conversation so far, for " +
          "context (do not greet the caller again; keep speaking aloud):\n" + text,
      ));
    }
    for (const e of entries.slice(tailStart)) {
      if (e.kind === "user" && e.text) items.push(userTextItem(e.text));
      else if (e.kind === "system") items.push(systemTextItem(e.text));
      else if (e.kind === "function_call" && answered.has(e.callId)) {
        items.push({
          type: "function_call",
          call_id: e.callId,
          name: e.name,
          arguments: e.arguments,
        });
      } else if (e.kind === "function_output") {
        if (items.some((i) => i.type === "function_call" && i.call_id === e.callId)) {
          items.push(functionCallOutputItem(e.callId, e.output));
        }
      }
    }
    return items;
  }

  #assistant(itemId: string): Extract<LogEntry, { kind: "assistant" }> {
    // Audio deltas come many times a second for the same item: remember the last one.
    const last = this.#lastAssistant;
    if (last !== undefined && last.itemId === itemId) return last;
    let entry = this.#assistantByItem.get(itemId);
    if (!entry) {
      this.assistantItem(itemId);
      entry = this.#assistantByItem.get(itemId)!;
    }
    this.#lastAssistant = entry;
    return entry;
  }
}

/** One line of the re-injected transcript, or undefined for an entry that says nothing. */
function transcriptLine(e: LogEntry, answered: ReadonlySet<string>): string | undefined {
  switch (e.kind) {
    case "user":
      return e.text ? `Caller: ${e.text}` : undefined;
    case "system":
      return `Note: ${e.text}`;
    case "assistant": {
      const text = spokenText(e);
      if (!text) return undefined;
      const cut = e.heardMs !== undefined && e.heardMs < e.audioMs;
      return `You: ${text}${cut ? " (interrupted)" : ""}`;
    }
    case "function_call":
      return answered.has(e.callId) ? `You called ${e.name}(${e.arguments})` : undefined;
    case "function_output":
      return `Result: ${e.output}`;
  }
}

/**
 * The part of an assistant item's transcript the caller heard. Truncated items are cut in
 * proportion to heard/received audio, at a word boundary (the API keeps no alignment).
 */
export function spokenText(e: Extract<LogEntry, { kind: "assistant" }>): string {
  const text = e.text.trim();
  if (e.heardMs === undefined || e.audioMs <= 0 || e.heardMs >= e.audioMs) return text;
  const cut = Math.floor(text.length * Math.max(0, e.heardMs) / e.audioMs);
  if (cut <= 0) return "";
  const space = text.lastIndexOf(" ", cut);
  return (space > 0 ? text.slice(0, space) : text.slice(0, cut)).trim();
}
