/**
 * The reviewed list of mutants `deno task mutate` runs (see scripts/mutate.ts).
 *
 * Each mutant is a one-place change to a safety rule, found by an exact anchor text (so
 * it survives refactors that move code; if the anchor is gone the run reports it instead of
 * skipping it) and judged by the test files that cover that rule. Add mutants when you add a
 * rule; when a refactor removes an anchor, re-anchor the mutant on the new code.
 *
 * @module
 */

/** One mutant. */
export interface Mutant {
  /** Short stable id, `area.rule`. */
  id: string;
  /** Area, for the per-area kill rate. */
  area: "booking" | "tools" | "signatures" | "codec" | "playout" | "call";
  /** Source file, relative to the repository root. */
  file: string;
  /** Exact text to replace; must occur exactly once in `file`. */
  find: string;
  /** What it becomes. */
  replace: string;
  /** The rule the mutant breaks, in a few words. */
  breaks: string;
  /** Test files (relative to the root) that must fail when the rule is broken. */
  tests: string[];
  /**
   * Why no test can tell this mutant from the original (it changes no behaviour), when
   * that was found on review. A surviving equivalent mutant is listed, not counted.
   */
  equivalent?: string;
}

const AVAILABILITY = ["tests/booking/availability_test.ts", "tests/booking/sqlite_store_test.ts"];
const STORE = ["tests/booking/sqlite_store_test.ts", "tests/e2e/manage_booking_test.ts"];
const TOOLS = [
  "tests/agent/tools_test.ts",
  "tests/e2e/tools_test.ts",
  "tests/e2e/manage_booking_test.ts",
];
const SIGNATURES = ["tests/twilio/signature_test.ts", "tests/twilio/call_flow_test.ts"];
const CODEC = [
  "tests/codec/mulaw_test.ts",
  "tests/codec/mulaw_reference_test.ts",
  "tests/codec/transcoder_test.ts",
  "tests/codec/resample_test.ts",
  "tests/e2e/heard_audio_test.ts",
];
const PLAYOUT = ["tests/call/playout_test.ts", "tests/e2e/barge_in_test.ts"];

/** Every mutant, in run order. */
export const MUTANTS: Mutant[] = [
  // ------------------------------------------------------------------ booking decisions
  {
    id: "booking.half-open-overlap",
    area: "booking",
    file: "src/booking/availability.ts",
    find: "if (p >= e || probe.e <= s) continue;",
    replace: "if (p > e || probe.e < s) continue;",
    breaks: "a booking ending at 10:00 does not overlap one starting at 10:00",
    tests: AVAILABILITY,
  },
  {
    id: "booking.peak-count-end",
    area: "booking",
    file: "src/booking/availability.ts",
    find: "for (const b of existing) if (b.s <= p && b.e > p) n++;",
    replace: "for (const b of existing) if (b.s <= p && b.e >= p) n++;",
    breaks: "intervals are half-open when counting the peak",
    tests: AVAILABILITY,
  },
  {
    id: "booking.capacity-on-book",
    area: "booking",
    file: "src/booking/availability.ts",
    find: "if (peakMs(toMs(existing), startMs, endMs) >= profile.capacity) {",
    replace: "if (peakMs(toMs(existing), startMs, endMs) > profile.capacity) {",
    breaks: "never more than `capacity` bookings at once (booking)",
    tests: AVAILABILITY,
  },
  {
    id: "booking.capacity-on-list",
    area: "booking",
    file: "src/booking/availability.ts",
    find: "if (peakMs(taken, g.ms, g.ms + duration) >= profile.capacity) continue;",
    replace: "if (peakMs(taken, g.ms, g.ms + duration) > profile.capacity) continue;",
    breaks: "a full slot is never offered",
    tests: AVAILABILITY,
  },
  {
    id: "booking.past-start",
    area: "booking",
    file: "src/booking/availability.ts",
    find: "if (Temporal.Instant.compare(startInstant, now) <= 0) {",
    replace: "if (false) {",
    breaks: "a start in the past is refused as in_past",
    tests: AVAILABILITY,
  },
  {
    id: "booking.min-notice",
    area: "booking",
    file: "src/booking/availability.ts",
    find: "now.add({ minutes: profile.minNoticeMinutes })) < 0) {",
    replace: "now.add({ minutes: 0 })) < 0) {",
    breaks: "bookings need the minimum notice",
    tests: AVAILABILITY,
  },
  {
    id: "booking.min-notice-listing",
    area: "booking",
    file: "src/booking/availability.ts",
    find: "if (g.ms < earliest) continue;",
    replace: "if (g.ms < now.epochMilliseconds) continue;",
    breaks: "slots inside the notice period are not offered",
    tests: AVAILABILITY,
  },
  {
    id: "booking.horizon",
    area: "booking",
    file: "src/booking/availability.ts",
    find: "if (Temporal.PlainDate.compare(date, lastBookableDate(profile, now)) > 0) {",
    replace: "if (Temporal.PlainDate.compare(date, lastBookableDate(profile, now)) > 1) {",
    breaks: "no booking beyond the booking horizon",
    tests: AVAILABILITY,
  },
  {
    id: "booking.closed-date",
    area: "booking",
    file: "src/booking/availability.ts",
    find: "if (holiday || profile.openingHours[weekdayOf(date)].length === 0) {",
    replace: "if (profile.openingHours[weekdayOf(date)].length === 0) {",
    breaks: "no booking on a closed date (holiday)",
    tests: AVAILABILITY,
  },
  {
    id: "booking.fits-hours",
    area: "booking",
    file: "src/booking/availability.ts",
    find: "startMs >= w.openMs && endMs <= w.closeMs",
    replace: "startMs >= w.openMs && startMs < w.closeMs",
    breaks: "the whole appointment fits in the opening hours",
    tests: AVAILABILITY,
  },
  {
    id: "booking.on-grid",
    area: "booking",
    file: "src/booking/availability.ts",
    find: "if (!onGrid) {",
    replace: "if (false) {",
    breaks: "starts are on the slot grid",
    tests: AVAILABILITY,
  },
  {
    id: "booking.listing-before-today",
    area: "booking",
    file: "src/booking/availability.ts",
    find: "if (Temporal.PlainDate.compare(date, todayInZone(profile, now)) < 0) return [];",
    replace: "if (false) return [];",
    breaks: "no slots are listed for past days",
    tests: AVAILABILITY,
    equivalent: "a fast path: every start of a past day is before `now + minNotice` and is " +
      "dropped by the notice filter below, so the list is empty either way",
  },
  // ------------------------------------------------------------------ booking store
  {
    id: "store.phones-match-loosely",
    area: "booking",
    file: "src/booking/store_core.ts",
    find: "return short.length >= 9 && long.endsWith(short) && long.length - short.length <= 3;",
    replace: "return long.endsWith(short.slice(-7));",
    breaks: "phone numbers match only as the same number (± country code)",
    tests: STORE,
  },
  {
    id: "store.phone-mismatch",
    area: "booking",
    file: "src/booking/store_core.ts",
    find: "return phone !== undefined && !phonesMatch(row.phoneDigits, phone)",
    replace: "return phone !== undefined && false",
    breaks: "only the booking's own phone may cancel or move it",
    tests: STORE,
  },
  {
    id: "store.replay-needs-same-phone",
    area: "booking",
    file: "src/booking/store_core.ts",
    find: "      phonesMatch(keyRow.phoneDigits, prep.phoneDigits);",
    replace: "      true;",
    breaks: "an idempotency key replays only the same caller's booking",
    tests: STORE,
  },
  {
    id: "store.cancel-after-start",
    area: "booking",
    file: "src/booking/store_core.ts",
    find:
      'if (row.status === "cancelled") return { kind: "already", row };\n  if (row.startMs <= now.epochMilliseconds) {',
    replace:
      'if (row.status === "cancelled") return { kind: "already", row };\n  if (row.startMs < now.epochMilliseconds - 1e12) {',
    breaks: "an appointment that has started cannot be cancelled",
    tests: STORE,
  },
  {
    id: "store.move-cancelled",
    area: "booking",
    file: "src/booking/store_core.ts",
    find: 'if (row.status === "cancelled") {\n    return { kind: "fail", reason: "cancelled"',
    replace: 'if (false) {\n    return { kind: "fail", reason: "cancelled"',
    breaks: "a cancelled booking cannot be rescheduled",
    tests: STORE,
  },
  {
    id: "store.name-required",
    area: "booking",
    file: "src/booking/store_core.ts",
    find: 'if (customerName === "") return fail(',
    replace: "if (false) return fail(",
    breaks: "a booking needs the customer's name",
    tests: STORE,
  },
  {
    id: "store.phone-required",
    area: "booking",
    file: "src/booking/store_core.ts",
    find: "if (digits.length < 6) {",
    replace: "if (digits.length < 1) {",
    breaks: "a booking needs a real phone number",
    tests: STORE,
  },
  {
    id: "store.booking-id-normalised",
    area: "booking",
    file: "src/booking/store_core.ts",
    find: 'return id.toUpperCase().replace(/[^0-9A-Z]/g, "");',
    replace: 'return id.replace(/[^0-9A-Za-z]/g, "");',
    breaks: "a reference read back in lower case or with dashes finds the booking",
    tests: STORE,
  },
  // ------------------------------------------------------------------ tools' authorisation
  {
    id: "tools.cancel-phone-check",
    area: "tools",
    file: "src/agent/booking_tools.ts",
    find: "const result = await store.cancel(booking_id.toUpperCase(), phone, ctx.callSid);",
    replace: "const result = await store.cancel(booking_id.toUpperCase(), undefined, ctx.callSid);",
    breaks: "cancel_booking only cancels the caller's own booking",
    tests: TOOLS,
  },
  {
    id: "tools.cancel-withheld-id",
    area: "tools",
    file: "src/agent/booking_tools.ts",
    find:
      'if (!phone) return { error: { code: "phone_unknown", message: "Caller number unknown." } };\n      const result = await store.cancel(',
    replace: "const result = await store.cancel(",
    breaks: "with the caller ID withheld, nothing is cancelled",
    tests: TOOLS,
  },
  {
    id: "tools.reschedule-phone-check",
    area: "tools",
    file: "src/agent/booking_tools.ts",
    find: "        phone,\n        serviceId,",
    replace: "        phone: undefined,\n        serviceId,",
    breaks: "reschedule_booking only moves the caller's own booking",
    tests: TOOLS,
  },
  {
    id: "tools.find-withheld-id",
    area: "tools",
    file: "src/agent/booking_tools.ts",
    find:
      'if (!phone) return { error: { code: "phone_unknown", message: "Caller number unknown." } };\n      const bookings = await store.findByPhone(phone);',
    replace: 'const bookings = await store.findByPhone(phone ?? "");',
    breaks: "find_booking needs the caller's number",
    tests: TOOLS,
  },
  {
    id: "tools.book-phone-required",
    area: "tools",
    file: "src/agent/booking_tools.ts",
    find: '      if (!phone) {\n        return {\n          error: { code: "phone_required"',
    replace: '      if (false) {\n        return {\n          error: { code: "phone_required"',
    breaks: "book_slot asks for a number when the caller ID is withheld",
    tests: TOOLS,
  },
  {
    id: "tools.book-key-per-call",
    area: "tools",
    file: "src/agent/booking_tools.ts",
    find: "idempotencyKey: `${ctx.callSid}:${found.id}:${start}`,",
    replace: "idempotencyKey: `${found.id}:${start}`,",
    breaks: "one call's retry never returns another call's booking",
    tests: [...TOOLS, "tests/e2e/slot_race_test.ts"],
  },
  {
    id: "tools.part-of-day",
    area: "tools",
    file: "src/agent/booking_tools.ts",
    find:
      "const matching = part_of_day\n        ? result.slots.filter((s) => inPartOfDay(s, part_of_day))\n        : result.slots;",
    replace: "const matching = result.slots;",
    breaks: "get_slots offers only the part of the day asked for",
    tests: [...TOOLS, "tests/e2e/booking_call_test.ts"],
  },
  {
    id: "tools.max-slots",
    area: "tools",
    file: "src/agent/booking_tools.ts",
    find: "slots: matching.slice(0, MAX_SLOTS_OFFERED).map(slotOut),",
    replace: "slots: matching.map(slotOut),",
    breaks: "never more slots than a caller can take in by ear",
    tests: TOOLS,
  },
  {
    id: "tools.validate-arguments",
    area: "tools",
    file: "src/agent/tools.ts",
    find: "const parsed = tool.parameters.safeParse(raw);\n    if (!parsed.success) {",
    replace: "const parsed = tool.parameters.safeParse(raw);\n    if (false) {",
    breaks: "arguments are validated before a handler runs",
    tests: TOOLS,
  },
  {
    id: "tools.timeout",
    area: "tools",
    file: "src/agent/tools.ts",
    find:
      "const result = await Promise.race([\n        tool.handler(parsed.data, { ...ctx, signal: controller.signal }),\n        timeout,\n      ]);",
    replace:
      "const result = await tool.handler(parsed.data, { ...ctx, signal: controller.signal });",
    breaks: "a slow tool times out instead of hanging the turn",
    tests: TOOLS,
  },
  {
    id: "tools.transfer-only-when-possible",
    area: "tools",
    file: "src/agent/call_control_tools.ts",
    find: "if (requestTransfer) {",
    replace: "if (true) {",
    breaks: "transfer_call is offered only when a transfer is possible",
    tests: ["tests/e2e/call_control_test.ts"],
  },
  {
    id: "tools.end-call-requests-hangup",
    area: "tools",
    file: "src/agent/call_control_tools.ts",
    find: "        requests.requestHangUp(reason);",
    replace: "        void reason;",
    breaks: "end_call ends the call",
    tests: ["tests/e2e/call_control_test.ts"],
  },
  // ------------------------------------------------------------------ signatures, call tokens
  {
    id: "signatures.missing-header",
    area: "signatures",
    file: "src/twilio/signature.ts",
    find: "if (!signature) return false;",
    replace: "if (!signature) return true;",
    breaks: "an unsigned request is refused",
    tests: SIGNATURES,
  },
  {
    id: "signatures.query-signed",
    area: "signatures",
    file: "src/twilio/signature.ts",
    find: "return this.#check(signature, webhookUrl(this.#publicUrl, pathAndQuery), params);",
    replace:
      'return this.#check(signature, webhookUrl(this.#publicUrl, pathAndQuery.split("?")[0]), params);',
    breaks: "the query string is part of what is signed",
    tests: SIGNATURES,
  },
  {
    id: "signatures.media-url-scheme",
    area: "signatures",
    file: "src/twilio/signature.ts",
    find: "return `wss://${new URL(publicUrl).host}${MEDIA_PATH}`;",
    replace: "return `https://${new URL(publicUrl).host}${MEDIA_PATH}`;",
    breaks: "the media upgrade is checked against the wss:// URL Twilio signs",
    tests: SIGNATURES,
  },
  {
    id: "signatures.validation-switch",
    area: "signatures",
    file: "src/twilio/signature.ts",
    find: "if (!this.#enabled) {",
    replace: "if (true) {",
    breaks: "signatures are checked unless explicitly disabled",
    tests: SIGNATURES,
  },
  {
    id: "tokens.expiry",
    area: "signatures",
    file: "src/twilio/call_token.ts",
    find: "return ok && parseInt(parts[1], 36) > this.#now();",
    replace: "return ok;",
    breaks: "a call token expires",
    tests: SIGNATURES,
  },
  {
    id: "tokens.bound-to-call",
    area: "signatures",
    file: "src/twilio/call_token.ts",
    find: "return `${VERSION}\\n${callSid}\\n${expiry}`;",
    replace: "return `${VERSION}\\n${expiry}`;",
    breaks: "a call token is valid only for its own CallSid",
    tests: SIGNATURES,
  },
  {
    id: "tokens.length-cap",
    area: "signatures",
    file: "src/twilio/call_token.ts",
    find: 'if (typeof token !== "string" || token.length > 200) return false;',
    replace: 'if (typeof token !== "string") return false;',
    breaks: "an oversized token is refused before any crypto",
    tests: SIGNATURES,
    equivalent: "a cost guard: a token over 200 characters still fails the format or the MAC " +
      "check; only the work done differs, which no functional test observes",
  },
  // ------------------------------------------------------------------ codec
  {
    id: "codec.encoder-dc-bias",
    area: "codec",
    file: "src/codec/mulaw.ts",
    find:
      "    kernelPcm.set(len === n ? pcm : pcm.subarray(at, at + len));\n    kernels.mulawEncode(",
    replace:
      "    kernelPcm.set(len === n ? pcm : pcm.subarray(at, at + len));\n    for (let i = 0; i < len; i++) kernelPcm[i] = Math.min(32767, kernelPcm[i] + 128);\n    kernels.mulawEncode(",
    breaks: "mu-law encoding adds no offset (G.711)",
    tests: CODEC,
  },
  {
    id: "codec.encoder-tail-block",
    area: "codec",
    file: "src/codec/mulaw.ts",
    find: "kernels.mulawEncode(PCM_AT, (len + 7) >> 3, CODES_AT);",
    replace: "kernels.mulawEncode(PCM_AT, len >> 3, CODES_AT);",
    breaks: "every sample is encoded, including a last partial block of 8",
    tests: CODEC,
  },
  {
    id: "codec.decoder-tail-block",
    area: "codec",
    file: "src/codec/mulaw.ts",
    find: "kernels.mulawDecode(CODES_AT, (len + 7) >> 3, PCM_AT);",
    replace: "kernels.mulawDecode(CODES_AT, len >> 3, PCM_AT);",
    breaks: "every code is decoded, including a last partial block of 8",
    tests: CODEC,
  },
  {
    id: "codec.reference-bias",
    area: "codec",
    file: "src/codec/mulaw.ts",
    find: "let absno = (x < 0 ? ~x >> 2 : x >> 2) + 33;",
    replace: "let absno = (x < 0 ? ~x >> 2 : x >> 2) + 32;",
    breaks: "the scalar reference is G.191's ulaw_compress (bias 33)",
    tests: CODEC,
  },
  {
    id: "codec.odd-byte-carry",
    area: "codec",
    file: "src/codec/transcoder.ts",
    find: "this.#carry = total & 1 ? buf.bytesStorage[total - 1] : -1;",
    replace: "this.#carry = -1;",
    breaks: "an odd byte of PCM16 waits for its partner in the next delta",
    tests: CODEC,
  },
  {
    id: "codec.reset-clears-carry",
    area: "codec",
    file: "src/codec/transcoder.ts",
    find: "      this.#down.reset();\n      this.#carry = -1;",
    replace: "      this.#down.reset();",
    breaks: "a reset (barge-in) drops the half sample of the old audio",
    tests: CODEC,
  },
  // ------------------------------------------------------------------ playout and truncation
  {
    id: "playout.schedule-only",
    area: "playout",
    file: "src/call/playout.ts",
    find: "const ms = (proofMs + (bySchedule.get(itemId) ?? proofMs)) / 2;",
    replace: "const ms = bySchedule.get(itemId) ?? proofMs;",
    breaks: "the heard estimate is the midpoint of echo and schedule",
    tests: PLAYOUT,
  },
  {
    id: "playout.proof-only",
    area: "playout",
    file: "src/call/playout.ts",
    find: "const ms = (proofMs + (bySchedule.get(itemId) ?? proofMs)) / 2;",
    replace: "const ms = proofMs;",
    breaks: "the heard estimate is the midpoint of echo and schedule",
    tests: PLAYOUT,
  },
  {
    id: "playout.flushed-echo-ignored",
    area: "playout",
    file: "src/call/playout.ts",
    find: "if (this.#flushed.delete(name)) return false;",
    replace: "this.#flushed.delete(name);",
    breaks: "a mark echoed because of a clear proves nothing",
    tests: PLAYOUT,
    equivalent: "belt and braces: interrupt() empties the pending list, and mark names never " +
      "repeat, so a flushed mark's echo finds nothing to prove either way",
  },
  {
    id: "playout.cap-at-sent",
    area: "playout",
    file: "src/call/playout.ts",
    find: "const capped = Math.min(ms, this.sentMs(itemId));",
    replace: "const capped = ms;",
    breaks: "never truncate beyond the audio sent for the item",
    tests: PLAYOUT,
    equivalent: "both estimates already stop at the end of the last chunk sent (each walks " +
      "chunk by chunk), so their midpoint cannot pass it; the cap guards future estimators",
  },
  {
    id: "playout.floor",
    area: "playout",
    file: "src/call/playout.ts",
    find: "const audioEndMs = Math.max(0, Math.floor(capped));",
    replace: "const audioEndMs = Math.max(0, Math.round(capped));",
    breaks: "truncate to whole ms not yet heard (floor, not round)",
    tests: PLAYOUT,
  },
  {
    id: "playout.drained-waits",
    area: "playout",
    file: "src/call/playout.ts",
    find:
      "if (this.#pending.length === 0) return Promise.resolve();\n    return new Promise((resolve) => this.#drainWaiters.push(resolve));",
    replace: "return Promise.resolve();",
    breaks: "whenDrained waits for the last audio to play",
    tests: [...PLAYOUT, "tests/e2e/call_control_test.ts"],
  },
  {
    id: "playout.marks-thinned-not-dropped",
    area: "playout",
    file: "src/call/playout.ts",
    find: "return this.#unmarkedMs >= this.#markIntervalMs ? this.markTail() : undefined;",
    replace: "return undefined;",
    breaks: "a mark every 100 ms of audio, not only at the end",
    tests: PLAYOUT,
  },
  {
    id: "playout.echo-proves-earlier",
    area: "playout",
    file: "src/call/playout.ts",
    find: "for (const chunk of this.#pending.splice(0, index + 1)) {",
    replace: "for (const chunk of this.#pending.splice(index, 1)) {",
    breaks: "an echo proves every chunk before its mark",
    tests: PLAYOUT,
  },
  {
    id: "playout.aligner-pads-silence",
    area: "playout",
    file: "src/call/frame_aligner.ts",
    find: "const out = new Uint8Array(size).fill(MULAW_SILENCE, this.#len);",
    replace: "const out = new Uint8Array(size);",
    breaks: "the last frame is padded with silence (0xFF), not a click (0x00)",
    tests: ["tests/call/frame_aligner_test.ts", "tests/e2e/heard_audio_test.ts"],
  },
  {
    id: "playout.aligner-whole-frames",
    area: "playout",
    file: "src/call/frame_aligner.ts",
    find: "const aligned = this.#len - (this.#len % FRAME_BYTES);",
    replace: "const aligned = this.#len;",
    breaks: "audio goes to Twilio in whole 20 ms frames",
    tests: ["tests/call/frame_aligner_test.ts", "tests/e2e/booking_call_test.ts"],
  },
];
