/**
 * The reminder state machine, as pure functions: each takes the stored reminder (and what
 * happened) and returns the next reminder, or undefined when the event does not apply (a
 * stale attempt, a lease lost to another instance, a booking that moved meanwhile). The
 * store applies them under the row lock (`updateReminder`), so every change is atomic.
 *
 * ```
 * scheduled ─▶ dialing ─▶ answered ─┬─▶ voicemail ─▶ done (voicemail)
 *     ▲           │          └──────┴─────────────▶ done (answered)
 *     │           ├─▶ no_answer | failed ─▶ (retry) dialing … ─▶ done (sms | gave_up)
 *     │           └─▶ done (sms)                     [texts: dialing = sending]
 *     └── the booking moved (trigger: new round)     cancelled: done (dropped)
 * ```
 *
 * @module
 */
import type { Booking, Reminder, ReminderAttempt, ReminderState } from "../booking/types.ts";
import { IN_FLIGHT_STATES, WAITING_STATES } from "../booking/reminder_rows.ts";
import { type Plan, planAfterNoAnswer, type ReminderPolicy } from "./schedule.ts";

/** How long a call may ring before the watchdog looks at it (Twilio gives up at 25 s). */
export const RING_WATCHDOG_MS = 2 * 60_000;
/** Extra time over `MAX_CALL_SECONDS` before the watchdog looks at an answered call. */
export const CALL_WATCHDOG_GRACE_MS = 2 * 60_000;

/** Twilio's final call statuses. */
const FINAL_STATUSES = new Set(["completed", "busy", "no-answer", "failed", "canceled"]);

/** AnsweredBy values that mean a machine took the call and its greeting is over. */
const MACHINE_DONE = new Set(["machine_end_beep", "machine_end_silence", "machine_end_other"]);

function isWaiting(state: ReminderState): boolean {
  return WAITING_STATES.includes(state);
}

function isInFlight(state: ReminderState): boolean {
  return IN_FLIGHT_STATES.includes(state);
}

function withAttempt(r: Reminder, n: number, patch: Partial<ReminderAttempt>): ReminderAttempt[] {
  return r.attempts.map((a) => a.n === n ? { ...a, ...patch } : a);
}

/** True when attempt `n` is the one the reminder is working on now. */
function isCurrent(r: Reminder, n: number): boolean {
  const a = r.attempts.at(-1);
  return a !== undefined && a.n === n && a.round === r.round;
}

/** Calls placed (or possibly placed) in the reminder's current round. */
export function callsThisRound(r: Reminder): number {
  return r.attempts.filter((a) =>
    a.round === r.round && a.channel === "call" && a.result !== "not_placed"
  ).length;
}

/** Puts a plan into effect on a waiting reminder (first plan, retry or text). */
function applyPlanTo(r: Reminder, plan: Plan, state: ReminderState, nowMs: number): Reminder {
  const free = { leaseOwner: null, leaseUntilMs: null, updatedMs: nowMs };
  return plan.kind === "due"
    ? { ...r, ...free, state, channel: plan.channel, dueMs: plan.dueMs }
    : { ...r, ...free, state: "done", dueMs: null, result: plan.reason };
}

/** The planner's first plan for a new or moved booking (only while still unplanned). */
export function planned(r: Reminder, round: number, plan: Plan, nowMs: number) {
  if (r.state !== "scheduled" || r.dueMs !== null || r.round !== round) return undefined;
  return applyPlanTo(r, plan, "scheduled", nowMs);
}

/** Ends a claimed reminder without an attempt (opted out, no number, too late, …). */
export function ended(r: Reminder, owner: string, result: string, nowMs: number) {
  if (r.leaseOwner !== owner || !isWaiting(r.state)) return undefined;
  return {
    ...r,
    state: "done" as const,
    result,
    dueMs: null,
    leaseOwner: null,
    leaseUntilMs: null,
    updatedMs: nowMs,
  };
}

/** Gives a claimed reminder back: due again at `dueMs` (e.g. the next calling window). */
export function postponed(r: Reminder, owner: string, dueMs: number, nowMs: number) {
  if (r.leaseOwner !== owner || !isWaiting(r.state)) return undefined;
  return { ...r, dueMs, leaseOwner: null, leaseUntilMs: null, updatedMs: nowMs };
}

/** Starts an attempt on a claimed, due reminder: `dialing`, attempt recorded, lease kept. */
export function begun(r: Reminder, owner: string, nowMs: number, leaseMs: number) {
  if (r.leaseOwner !== owner || !isWaiting(r.state)) return undefined;
  const attempt: ReminderAttempt = {
    n: r.attempts.length + 1,
    round: r.round,
    channel: r.channel,
    startedMs: nowMs,
    owner,
  };
  return {
    ...r,
    state: "dialing" as const,
    attempts: [...r.attempts, attempt],
    leaseUntilMs: nowMs + leaseMs,
    updatedMs: nowMs,
  };
}

/**
 * Twilio took the call: its SID is kept, and the lease turns into a watchdog no instance
 * owns (from now on the call's callbacks move the reminder, on whichever instance).
 */
export function callPlaced(r: Reminder, n: number, callSid: string, nowMs: number) {
  const a = r.attempts.find((x) => x.n === n);
  if (!a || (a.callSid !== undefined && a.callSid !== callSid)) return undefined;
  const attempts = withAttempt(r, n, { callSid, status: a.status ?? "queued" });
  if (!isCurrent(r, n) || r.state !== "dialing") return { ...r, attempts, updatedMs: nowMs };
  return {
    ...r,
    attempts,
    leaseOwner: null,
    leaseUntilMs: nowMs + RING_WATCHDOG_MS,
    updatedMs: nowMs,
  };
}

/** The text went out: the reminder is done. */
export function smsSent(r: Reminder, n: number, messageSid: string, nowMs: number) {
  const a = r.attempts.find((x) => x.n === n);
  if (!a || a.channel !== "sms") return undefined;
  const attempts = withAttempt(r, n, { messageSid, result: "sent", endedMs: nowMs });
  if (!isCurrent(r, n) || r.state !== "dialing") return { ...r, attempts, updatedMs: nowMs };
  return {
    ...r,
    attempts,
    state: "done" as const,
    result: "sms",
    dueMs: null,
    leaseOwner: null,
    leaseUntilMs: null,
    updatedMs: nowMs,
  };
}

/**
 * The attempt never reached Twilio (its instance died first, or Twilio refused it with
 * `failed`): for `not_placed` the reminder is due again at once, not counted as a try;
 * a refusal counts and goes the no-answer way.
 */
export function notPlaced(r: Reminder, n: number, nowMs: number) {
  if (!isCurrent(r, n) || r.state !== "dialing") return undefined;
  return {
    ...r,
    attempts: withAttempt(r, n, { result: "not_placed", endedMs: nowMs }),
    state: "scheduled" as const,
    dueMs: nowMs,
    leaseOwner: null,
    leaseUntilMs: null,
    updatedMs: nowMs,
  };
}

/** What a call status (callback, fetched, or the voice webhook's `in-progress`) means. */
export interface CallEvent {
  n: number;
  callSid: string;
  /** Twilio `CallStatus`. */
  status: string;
  nowMs: number;
  /** Error text, when Twilio refused or failed the call. */
  detail?: string;
}

/**
 * Applies a call's progress to its attempt and, when it is the current attempt, to the
 * reminder: ringing keeps the watchdog fresh; `in-progress` is answered; `completed` ends
 * it (answered or voicemail); busy / no-answer / failed / canceled go to the retry, the
 * text, or the end, by {@linkcode planAfterNoAnswer}.
 */
export function callProgressed(
  r: Reminder,
  booking: Booking,
  e: CallEvent,
  policy: ReminderPolicy,
  callWatchdogMs: number,
) {
  const a = r.attempts.find((x) => x.n === e.n);
  if (!a || a.channel !== "call" || (a.callSid !== undefined && a.callSid !== e.callSid)) {
    return undefined;
  }
  const final = FINAL_STATUSES.has(e.status);
  if (a.endedMs !== undefined && !final) return undefined; // late "ringing" after the end
  const patch: Partial<ReminderAttempt> = { callSid: e.callSid, status: e.status };
  if (e.detail) patch.detail = e.detail;
  const current = isCurrent(r, e.n) && isInFlight(r.state);
  const base = { ...r, updatedMs: e.nowMs };
  if (!final) {
    const answered = e.status === "in-progress";
    const attempts = withAttempt(r, e.n, patch);
    if (!current) return { ...base, attempts };
    return {
      ...base,
      attempts,
      state: answered && r.state === "dialing" ? "answered" as const : r.state,
      leaseOwner: null,
      leaseUntilMs: e.nowMs +
        (answered || r.state !== "dialing" ? callWatchdogMs : RING_WATCHDOG_MS),
    };
  }
  if (a.endedMs !== undefined) return undefined; // already ended: callbacks repeat
  if (e.status === "completed") {
    const result = a.result ?? (r.state === "voicemail" ? "voicemail" : "answered");
    const attempts = withAttempt(r, e.n, { ...patch, result, endedMs: e.nowMs });
    if (!current) return { ...base, attempts };
    return {
      ...base,
      attempts,
      state: "done" as const,
      result,
      dueMs: null,
      leaseOwner: null,
      leaseUntilMs: null,
    };
  }
  const result = e.status === "no-answer" ? "no_answer" : e.status.replace("-", "_");
  const attempts = withAttempt(r, e.n, { ...patch, result, endedMs: e.nowMs });
  if (!current) return { ...base, attempts };
  const state = e.status === "busy" || e.status === "no-answer" ? "no_answer" : "failed";
  return afterUnanswered({ ...base, attempts }, booking, state, policy, e.nowMs);
}

/** The one retry, the text, or the end, after an unanswered or failed call. */
function afterUnanswered(
  r: Reminder,
  booking: Booking,
  state: "no_answer" | "failed",
  policy: ReminderPolicy,
  nowMs: number,
): Reminder {
  const plan = planAfterNoAnswer(policy, {
    startMs: Date.parse(booking.start),
    nowMs,
    callsThisRound: callsThisRound(r),
  });
  const next = applyPlanTo(r, plan, state, nowMs);
  return next.state === "done" ? { ...next, result: "gave_up" } : next;
}

/** Twilio refused to place the call (e.g. an invalid number): a failed try. */
export function callRefused(
  r: Reminder,
  booking: Booking,
  n: number,
  detail: string,
  policy: ReminderPolicy,
  nowMs: number,
) {
  if (!isCurrent(r, n) || r.state !== "dialing") return undefined;
  const attempts = withAttempt(r, n, { result: "failed", detail, endedMs: nowMs });
  return afterUnanswered({ ...r, attempts, updatedMs: nowMs }, booking, "failed", policy, nowMs);
}

/** Twilio refused the text: nothing else to try. */
export function smsRefused(r: Reminder, n: number, detail: string, nowMs: number) {
  if (!isCurrent(r, n) || r.state !== "dialing") return undefined;
  return {
    ...r,
    attempts: withAttempt(r, n, { result: "failed", detail, endedMs: nowMs }),
    state: "done" as const,
    result: "gave_up",
    dueMs: null,
    leaseOwner: null,
    leaseUntilMs: null,
    updatedMs: nowMs,
  };
}

/**
 * The answering-machine verdict. A machine whose greeting is over means the message goes
 * out now (`voicemail`); a fax ends the attempt; `human` and `unknown` are only recorded.
 */
export function machineDetected(
  r: Reminder,
  n: number,
  callSid: string,
  answeredBy: string,
  nowMs: number,
) {
  const a = r.attempts.find((x) => x.n === n);
  if (!a || (a.callSid !== undefined && a.callSid !== callSid) || a.endedMs !== undefined) {
    return undefined;
  }
  const machine = MACHINE_DONE.has(answeredBy);
  const patch: Partial<ReminderAttempt> = { callSid, answeredBy };
  if (machine) patch.result = "voicemail";
  if (answeredBy === "fax") patch.result = "fax";
  const attempts = withAttempt(r, n, patch);
  const live = isCurrent(r, n) && (r.state === "dialing" || r.state === "answered");
  return {
    ...r,
    attempts,
    state: machine && live ? "voicemail" as const : r.state,
    updatedMs: nowMs,
  };
}

/** True when a verdict means: leave the message now. */
export function isMachineDone(answeredBy: string): boolean {
  return MACHINE_DONE.has(answeredBy);
}

/** What the customer did on the call (from the call record), kept on its attempt. */
export function responded(r: Reminder, callSid: string, response: string, nowMs: number) {
  const a = r.attempts.find((x) => x.callSid === callSid);
  if (!a || a.response === response) return undefined;
  return { ...r, attempts: withAttempt(r, a.n, { response }), updatedMs: nowMs };
}
