/** The clock helpers the call layer and the routes race their work with, in virtual time. */
import assert from "node:assert/strict";
import { raceTimer, sleep, timeoutSignal } from "../src/clock.ts";
import { settle, VirtualClock } from "./support/virtual_clock.ts";

Deno.test("raceTimer: the work wins and its timer is cleared", async () => {
  const clock = new VirtualClock();
  const result = raceTimer(clock, Promise.resolve("answer"), 1000, () => "late");
  assert.equal(await result, "answer");
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("raceTimer: the timer wins with onTimeout's value, or its error", async () => {
  const clock = new VirtualClock();
  const never = new Promise<string>(() => {});
  const value = raceTimer(clock, never, 1000, () => "timed out");
  const thrown = raceTimer(clock, never, 2000, () => {
    throw new Error("no answer within 2000 ms");
  });
  let valueSettled = false;
  value.then(() => valueSettled = true);
  await clock.advance(999);
  assert.equal(valueSettled, false, "not before its time");
  await clock.advance(1);
  assert.equal(await value, "timed out");
  const rejected = assert.rejects(thrown, /no answer within 2000 ms/);
  await clock.advance(1000);
  await rejected;
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("raceTimer: a failing work rejects at once and clears its timer", async () => {
  const clock = new VirtualClock();
  await assert.rejects(
    raceTimer(clock, Promise.reject(new Error("database down")), 1000, () => "late"),
    /database down/,
  );
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("timeoutSignal aborts on the clock; sleep rejects with the signal's reason", async () => {
  const clock = new VirtualClock();
  const { signal } = timeoutSignal(clock, 500, "too slow");
  const nap = sleep(clock, 10_000, signal);
  const rejected = assert.rejects(nap, /too slow/);
  await clock.advance(500);
  await rejected;
  await settle();
  assert.equal(signal.aborted, true);
  assert.equal(clock.pendingTimers, 0);
});
