/**
 * The load harness in small: 20 simulated calls on our bridge (its own process, the lean
 * fake model, stamped real-time frames both ways, one barge-in per call) for a short
 * window. Proves no frame is lost in either direction, barge-ins are cleared, latency
 * stays bounded, the fakes saw no protocol violation, and the server lets go of every
 * call and socket afterwards. The full sweep is `deno task bench:load`.
 */
import assert from "node:assert/strict";
import { runLoad } from "../../scripts/load/load_run.ts";

Deno.test("load (small): 20 calls on our bridge lose no frame, stay fast, release everything", async () => {
  const r = await runLoad({ bridge: "ours", format: "pcmu", calls: 20, seconds: 10 });
  const report = JSON.stringify({
    up: r.up,
    down: r.down,
    turn: r.turn,
    bargeIn: r.bargeIn,
    cpuPctPerCall: r.cpuPctPerCall,
    rssPerCallKiB: r.rssPerCallKiB,
    fds: [r.fdsIdle, r.fdsLoaded, r.fdsAfter],
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
  assert.equal(r.misordered, 0, "frames out of order");
  assert.deepEqual(r.violationLog, [], "protocol violations seen by the fakes");
  // Every barge-in was answered with a clear; latency bounded (generous for CI).
  assert.ok(r.bargeInsSent >= 20, `barge-ins: ${r.bargeInsSent}`);
  assert.equal(r.clearsReceived, r.bargeInsSent, "a clear for every barge-in");
  assert.ok(r.up.count > 0 && r.down.count > 0 && r.bargeIn.count > 0, report);
  assert.ok(r.up.p99 < 50, `caller->model p99 ${r.up.p99} ms`);
  assert.ok(r.down.p99 < 50, `model->caller p99 ${r.down.p99} ms`);
  assert.ok(r.bargeIn.p99 < 50, `barge-in p99 ${r.bargeIn.p99} ms`);
  // After hang-up the server holds no call and no extra descriptor.
  assert.equal(r.activeCallsAfter, 0);
  assert.ok(r.fdsAfter <= r.fdsIdle + 2, `fds idle ${r.fdsIdle}, after ${r.fdsAfter}`);
});
