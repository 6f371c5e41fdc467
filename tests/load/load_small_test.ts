/**
 * The load harness in small: 20 simulated calls on our bridge (its own process; the lean
 * fake model and the callers in harness processes of their own; stamped real-time frames
 * both ways, one barge-in per call) for a short window. Proves no frame is lost in either
 * direction, barge-ins are cleared, latency stays bounded (end to end, and under 5 ms p99
 * inside the bridge), the fakes saw no protocol violation, and the server lets go of every
 * call and socket afterwards. The full comparison is `deno task bench:load`.
 */
import assert from "node:assert/strict";
import { runLoad } from "../../scripts/load/load_run.ts";

Deno.test("load (small): 20 calls on our bridge lose no frame, stay fast, release everything", async () => {
  // Two caller processes, so the join across processes is part of what is tested.
  const r = await runLoad({
    bridge: "ours",
    format: "pcmu",
    calls: 20,
    seconds: 10,
    callerProcs: 2,
    modelProcs: 1,
  });
  const report = JSON.stringify({
    up: r.up,
    down: r.down,
    turn: r.turn,
    bargeIn: r.bargeIn,
    inBridge: r.inBridge,
    cpuPctPerCall: r.cpuPctPerCall,
    lag: { server: r.serverLag, harness: r.harnessLag },
    rssPerCallKiB: r.rssPerCallKiB,
    fds: [r.fdsIdle, r.fdsLoaded, r.fdsAfter],
    harness: r.harnessProcs.map((p) => `${p.name} ${p.cpuPct.toFixed(0)}%`),
    violations: r.violationLog,
  });
  console.log(`load small: ${report}`);
  assert.equal(r.callsConnected, 20);
  // Every frame arrives, counting call setup too (ours buffers until the model is ready).
  assert.ok(r.framesUp > 20 * 500, `caller frames sent: ${r.framesUp}`);
  assert.ok(r.framesDown > 20 * 250, `model frames sent: ${r.framesDown}`);
  assert.equal(r.upLostWithSetup, 0, "caller frames lost");
  assert.equal(r.upLost, 0, "caller frames lost after setup");
  assert.equal(r.downLost, 0, "model frames lost");
  assert.equal(r.downLostWithSetup, 0, "model frames lost, setup included");
  assert.equal(r.unboundCalls, 0, "calls no model session served");
  assert.ok(r.upRelayed > 0 && r.downRelayed > 0 && r.cpuUsPerFrame > 0, report);
  assert.equal(r.misordered, 0, "frames out of order");
  assert.deepEqual(r.violationLog, [], "protocol violations seen by the fakes");
  // Every barge-in was answered with a clear; latency bounded (generous for CI).
  assert.ok(r.bargeInsSent >= 20, `barge-ins: ${r.bargeInsSent}`);
  assert.equal(r.clearsReceived, r.bargeInsSent, "a clear for every barge-in");
  assert.ok(r.up.count > 0 && r.down.count > 0 && r.bargeIn.count > 0, report);
  // End to end, the median shows what the relay itself adds: a bridge that buffers or holds
  // frames back shifts it. The tail also holds every stall of the processes on the way (garbage
  // collection, a machine shared with other jobs), and one stall delays every frame queued
  // behind it, so the 50 ms p99 bound grows by the longest stall the processes' event-loop
  // lag saw. The bridge's own share is bounded below, in the bridge; and its loop may not lag
  // far more than the harness's (a bridge blocking its loop).
  for (const [name, s] of [["caller->model", r.up], ["model->caller", r.down]] as const) {
    assert.ok(s.p50 < 20, `${name} p50 ${s.p50} ms`);
  }
  const stallMs = Math.max(
    r.serverLag.max,
    ...r.harnessProcs.map((p) => p.lag.max).filter(Number.isFinite),
  );
  const e2eBound = 50 + 2 * stallMs;
  assert.ok(r.up.p99 < e2eBound, `caller->model p99 ${r.up.p99} ms (bound ${e2eBound})`);
  assert.ok(r.down.p99 < e2eBound, `model->caller p99 ${r.down.p99} ms (bound ${e2eBound})`);
  assert.ok(r.bargeIn.p99 < e2eBound, `barge-in p99 ${r.bargeIn.p99} ms (bound ${e2eBound})`);
  assert.ok(
    r.serverLag.p99 < 3 * r.harnessLag.p99 + 20,
    `server loop lag p99 ${r.serverLag.p99} ms, harness ${r.harnessLag.p99} ms`,
  );
  // Inside the bridge (arrival on one socket -> departure on the other), issue 9's target:
  // p99 under 5 ms, measured on (nearly) every frame of the window, not on a few.
  const b = r.inBridge;
  assert.ok(b.up.count >= 0.9 * r.up.count, `in-bridge up samples ${b.up.count}, ${report}`);
  assert.ok(b.down.count >= 0.9 * r.down.count, `in-bridge down samples ${b.down.count}`);
  assert.ok(b.bargeIn.count >= 0.9 * r.bargeIn.count, `in-bridge barge-ins ${b.bargeIn.count}`);
  assert.ok(b.up.p99 < 5, `in-bridge up p99 ${b.up.p99} ms`);
  assert.ok(b.down.p99 < 5, `in-bridge down p99 ${b.down.p99} ms`);
  assert.ok(b.bargeIn.p99 < 5, `in-bridge barge-in p99 ${b.bargeIn.p99} ms`);
  // The fakes' clocks reach the bridge: the trip to the bridge is measured and positive.
  assert.ok(b.toBridgeUp.count > 0 && b.toBridgeUp.p50 > 0, report);
  assert.ok(b.toBridgeDown.count > 0 && b.toBridgeDown.p50 > 0, report);
  // After hang-up the server holds no call and no extra descriptor.
  assert.equal(r.activeCallsAfter, 0);
  assert.ok(r.fdsAfter <= r.fdsIdle + 2, `fds idle ${r.fdsIdle}, after ${r.fdsAfter}`);
});
