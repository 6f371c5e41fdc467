import assert from "node:assert/strict";
import {
  type CallRecord,
  decodeCall,
  decodeSession,
  encodeCall,
  encodeSession,
  joinRecords,
  type SessionRecord,
} from "../../scripts/load/timeline.ts";

const f64 = (values: number[]) => Float64Array.from(values);

/** A call whose frames go every 20 ms from `t0`. */
function call(idx: number, t0: number, frames: number, down: CallRecord["down"], clears: number[]) {
  return {
    idx,
    upSent: f64(Array.from({ length: frames }, (_, i) => t0 + 20 * i)),
    down,
    clears: f64(clears),
  } satisfies CallRecord;
}

Deno.test("load join (pcmu): latency from both processes' wall clocks, losses after setup, barge-ins paired", () => {
  // Call 0: caller frames 0..9 at 1000 + 20 i; the model got 2..9 (0 and 1 during setup)
  // each 3 ms later, except 6 (lost in steady state).
  const upArrived0 = f64([NaN, NaN, 1043, 1063, 1083, 1103, NaN, 1143, 1163, 1183]);
  // Session 7 (call 0) sent 5 deltas at 1010 + 20 i; the caller heard them 2 ms later, but
  // not the last. The first delta opened a response.
  const s7: SessionRecord = {
    idx: 7,
    callIdx: 0,
    upArrived: upArrived0,
    downSent: f64([1010, 1030, 1050, 1070, 1090]),
    firstOfResponse: [0],
    bargeSent: f64([1100, 1500]),
  };
  const c0 = call(0, 1000, 10, { "7": f64([1012, 1032, 1052, 1072]) }, [1000, 1104.5]);
  // Call 1 and session 9: everything arrives; the model sends 1 delta, heard 4 ms later.
  const s9: SessionRecord = {
    idx: 9,
    callIdx: 1,
    upArrived: f64([2001, 2021]),
    downSent: f64([2005]),
    firstOfResponse: [0],
    bargeSent: f64([]),
  };
  const c1 = call(1, 2000, 2, { "9": f64([2009]) }, []);
  const j = joinRecords([c0, c1], [s7, s9], "pcmu", [1000, 3000]);
  assert.equal(j.framesUp, 12);
  assert.equal(j.framesDown, 6);
  assert.equal(j.upLostWithSetup, 3);
  assert.equal(j.upLost, 1, "only the frame lost after the first arrival");
  assert.equal(j.downLost, 1);
  assert.equal(j.downLostWithSetup, 1);
  assert.equal(j.up.count, 9);
  assert.equal(j.up.summary().max, 3);
  assert.equal(j.up.summary().p50, 3);
  assert.equal(j.upRelayed + j.downRelayed, 9 + 5);
  assert.equal(j.down.summary().max, 4);
  assert.equal(j.turn.count, 2);
  // Barge-in at 1100 answered at 1104.5 (the clear at 1000 came before it); the one at 1500
  // never was.
  assert.equal(j.bargeInsSent, 2);
  assert.equal(j.clearsReceived, 1);
  assert.equal(j.bargeIn.summary().max, 4.5);
  assert.equal(j.unboundCalls, 0);

  // The window only narrows latencies and relayed counts, never losses.
  const late = joinRecords([c0, c1], [s7, s9], "pcmu", [1100, 1200]);
  assert.equal(late.up.count, 4); // sent at 1100, 1140, 1160, 1180 (1120 was lost)
  assert.equal(late.upLost, 1);
  assert.equal(late.down.count, 0);
});

Deno.test("load join (pcm16): frames matched by order, a session never heard counts as lost", () => {
  const s: SessionRecord = {
    idx: 3,
    callIdx: 0,
    upArrived: f64([105, 125, 145]),
    downSent: f64([200, 220, 240]),
    firstOfResponse: [0],
    bargeSent: f64([]),
  };
  const c = call(0, 100, 4, { order: f64([201, 221]) }, []);
  const j = joinRecords([c], [s], "pcm16", [0, 1000]);
  assert.equal(j.up.summary().max, 5);
  assert.equal(j.upLost, 1, "the caller's fourth frame never arrived");
  assert.equal(j.down.count, 2);
  assert.equal(j.downLost, 1);

  // A call whose session sent audio the caller never heard: all of it is lost.
  const silent = call(0, 100, 3, { order: f64([]) }, []);
  const j2 = joinRecords([silent], [s], "pcm16", [0, 1000]);
  assert.equal(j2.downLost, 3);
  assert.equal(j2.downLostWithSetup, 3);
  // A call no session serves.
  const j3 = joinRecords([call(5, 0, 3, {}, [])], [s], "pcm16", [0, 1000]);
  assert.equal(j3.unboundCalls, 1);
  assert.equal(j3.upLostWithSetup, 3);
});

Deno.test("load records survive the trip through JSON", () => {
  const c = call(4, 1795951486415.8716, 3, { "2": f64([NaN, 1795951486420.25]) }, [1.5]);
  const back = decodeCall(JSON.parse(JSON.stringify(encodeCall(c))));
  assert.deepEqual(back, c);
  const s: SessionRecord = {
    idx: 2,
    callIdx: 4,
    upArrived: f64([NaN, 3.25]),
    downSent: f64([1, 2]),
    firstOfResponse: [0],
    bargeSent: f64([7]),
  };
  assert.deepEqual(decodeSession(JSON.parse(JSON.stringify(encodeSession(s)))), s);
});
