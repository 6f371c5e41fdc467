import assert from "node:assert/strict";
import { FULLY_HEARD_MARGIN_MS, MARK_INTERVAL_MS, Playout } from "../../src/call/playout.ts";

function clock() {
  let now = 1000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

Deno.test("playout: genuine echoes confirm play; nothing pending means no truncation", () => {
  const c = clock();
  const p = new Playout(c.now, 100, 0); // a mark per 100 ms; estimates only: no fully-heard margin
  const m1 = p.chunkSent("item1", 800)!; // 100 ms
  const m2 = p.chunkSent("item1", 1600)!; // 200 ms
  assert.equal(p.sentMs("item1"), 300);
  assert.ok(p.hasUnplayed());
  c.advance(100);
  assert.equal(p.markEchoed(m1), true);
  assert.equal(p.confirmedMs("item1"), 100);
  c.advance(200);
  assert.equal(p.markEchoed(m2), true);
  assert.equal(p.hasUnplayed(), false);
  assert.deepEqual(p.interrupt(), []);
});

Deno.test("playout: barge-in mid-chunk truncates to the playhead, not the last mark", () => {
  const c = clock();
  const p = new Playout(c.now, 100, 0); // a mark per 100 ms; estimates only: no fully-heard margin
  const m1 = p.chunkSent("item1", 800)!; // 0-100 ms
  p.chunkSent("item1", 800); // 100-200 ms
  p.chunkSent("item1", 800); // 200-300 ms
  c.advance(100);
  p.markEchoed(m1);
  c.advance(37); // 137 ms played
  assert.deepEqual(p.interrupt(), [{ itemId: "item1", audioEndMs: 137 }]);
  assert.equal(p.hasUnplayed(), false);
});

Deno.test("playout: echoes caused by clear are ignored", () => {
  const c = clock();
  const p = new Playout(c.now, 100, 0); // a mark per 100 ms; estimates only: no fully-heard margin
  const m1 = p.chunkSent("item1", 800)!;
  const m2 = p.chunkSent("item1", 800)!;
  c.advance(50);
  assert.deepEqual(p.interrupt(), [{ itemId: "item1", audioEndMs: 50 }]);
  // Twilio now echoes both marks because of the clear.
  assert.equal(p.markEchoed(m1), false);
  assert.equal(p.markEchoed(m2), false);
  assert.equal(p.confirmedMs("item1"), 50);
  assert.equal(p.markEchoed("someone-else"), false);
});

Deno.test("playout: estimate never exceeds the audio sent for the item", () => {
  const c = clock();
  const p = new Playout(c.now, 100, 0); // a mark per 100 ms; estimates only: no fully-heard margin
  p.chunkSent("item1", 160); // 20 ms
  c.advance(5_000); // the echo is late, but only 20 ms exist
  // Heard to its end (capped at the 20 ms sent): nothing to truncate (14.3).
  assert.deepEqual(p.interrupt(), []);
  assert.equal(p.confirmedMs("item1"), 20);
});

Deno.test("playout: audio sent after a pause starts playing when sent", () => {
  const c = clock();
  const p = new Playout(c.now, 100, 0); // a mark per 100 ms; estimates only: no fully-heard margin
  const m1 = p.chunkSent("a", 800)!; // 100 ms
  c.advance(100);
  p.markEchoed(m1);
  c.advance(1000); // silence, then a new item
  p.chunkSent("b", 1600); // 200 ms
  c.advance(30);
  assert.deepEqual(p.interrupt(), [{ itemId: "b", audioEndMs: 30 }]);
});

Deno.test("playout: two items pending: first fully heard, second partly", () => {
  const c = clock();
  const p = new Playout(c.now, 100, 0); // a mark per 100 ms; estimates only: no fully-heard margin
  p.chunkSent("a", 400); // 50 ms
  p.chunkSent("b", 800); // 100 ms
  c.advance(70.9);
  // "a" was heard to its end: only "b" is truncated (truncating "a" would delete its
  // transcript on the server for nothing).
  assert.deepEqual(p.interrupt(), [{ itemId: "b", audioEndMs: 20 }]);
  assert.equal(p.confirmedMs("a"), 50);
});

Deno.test("playout: whenDrained resolves on the last genuine echo or on interrupt", async () => {
  const c = clock();
  const p = new Playout(c.now, 100, 0); // a mark per 100 ms; estimates only: no fully-heard margin
  await p.whenDrained(); // nothing pending
  assert.equal(p.chunkSent("a", 160), undefined); // 20 ms: not worth a mark yet
  const m = p.markTail()!; // the audio ended: mark it
  let drained = false;
  const waiting = p.whenDrained().then(() => (drained = true));
  await Promise.resolve();
  assert.equal(drained, false);
  p.markEchoed(m);
  await waiting;
  assert.equal(drained, true);
  p.chunkSent("a", 160);
  const second = p.whenDrained();
  p.interrupt();
  await second;
});

Deno.test("playout: a late echo and the send schedule are averaged", () => {
  const c = clock();
  const p = new Playout(c.now, 100, 0); // a mark per 100 ms; estimates only: no fully-heard margin
  const m1 = p.chunkSent("item1", 800)!; // plays 0-100 ms by the schedule
  p.chunkSent("item1", 800); // 100-200 ms
  c.advance(140); // the echo of the first chunk arrives 40 ms after it ended
  p.markEchoed(m1);
  c.advance(10);
  // By proof: 100 + 10 = 110 ms; by schedule: 150 ms; midpoint 130 ms.
  assert.deepEqual(p.interrupt(), [{ itemId: "item1", audioEndMs: 130 }]);
});

Deno.test("playout: 20 ms chunks get one mark per 100 ms; an echo proves the chunks before it", () => {
  const c = clock();
  const p = new Playout(c.now, 100, 0); // estimates only: no fully-heard margin
  const marks = Array.from({ length: 12 }, () => p.chunkSent("item1", 160));
  // A mark after the 5th and the 10th chunk, none on the others.
  assert.deepEqual(
    marks.map((m, i) => (m === undefined ? "" : String(i + 1))).filter(Boolean),
    ["5", "10"],
  );
  const tail = p.markTail()!; // the audio stops after 12 chunks (240 ms)
  assert.equal(p.markTail(), undefined, "the tail is marked once");
  c.advance(100);
  assert.equal(p.markEchoed(marks[4]!), true);
  assert.equal(p.confirmedMs("item1"), 100);
  assert.ok(p.hasUnplayed());
  c.advance(140);
  assert.equal(p.markEchoed(tail), true);
  assert.equal(p.confirmedMs("item1"), 240);
  assert.equal(p.hasUnplayed(), false);
});

Deno.test("playout: barge-in between thinned marks still truncates to the playhead", () => {
  const c = clock();
  const p = new Playout(c.now, 100, 0); // estimates only: no fully-heard margin
  const marks: (string | undefined)[] = [];
  for (let i = 0; i < 10; i++) marks.push(p.chunkSent("item1", 160)); // 200 ms in 20 ms chunks
  c.advance(100);
  p.markEchoed(marks[4]!); // first 100 ms proven, on time
  c.advance(43);
  // By proof: 100 + 43; by schedule: 143; no echo of an unmarked chunk is needed.
  assert.deepEqual(p.interrupt(), [{ itemId: "item1", audioEndMs: 143 }]);
  // The clear makes Twilio echo the pending mark: it proves nothing.
  assert.equal(p.markEchoed(marks[9]!), false);
  assert.equal(p.markTail(), undefined, "nothing left to mark after a clear");
});

Deno.test("playout: by default one mark per 200 ms of audio; a barge-in between marks still truncates to the playhead", () => {
  const c = clock();
  const p = new Playout(c.now, undefined, 0);
  assert.equal(MARK_INTERVAL_MS, 200);
  const marks = Array.from({ length: 25 }, () => p.chunkSent("item1", 160)); // 500 ms
  assert.deepEqual(
    marks.map((m, i) => (m === undefined ? "" : String(i + 1))).filter(Boolean),
    ["10", "20"],
  );
  c.advance(200);
  assert.equal(p.markEchoed(marks[9]!), true); // first 200 ms proven, on time
  c.advance(133);
  // By proof: 200 + 133; by schedule: 333.
  assert.deepEqual(p.interrupt(), [{ itemId: "item1", audioEndMs: 333 }]);
});

Deno.test("playout: markIntervalMs 0 marks every chunk", () => {
  const p = new Playout(clock().now, 0, 0);
  assert.ok(p.chunkSent("a", 160));
  assert.ok(p.chunkSent("a", 160));
});

Deno.test("playout: an item heard to within the margin of its end is not truncated", () => {
  const c = clock();
  const p = new Playout(c.now); // the default margin, FULLY_HEARD_MARGIN_MS
  p.chunkSent("a", 8 * 1000); // 1 s
  p.markTail();
  p.chunkSent("b", 8 * 1000); // 1 s more
  p.markTail();
  c.advance(1700); // "a" heard in full, "b" 700 ms in: both unconfirmed (no echo yet)
  const truncations = p.interrupt();
  assert.deepEqual(truncations.map((t) => t.itemId), ["b"], "only the item not heard to its end");
  assert.ok(truncations[0].audioEndMs < 1000 - FULLY_HEARD_MARGIN_MS);
  assert.equal(p.confirmedMs("a"), 1000, "what was heard is still recorded");

  const d = clock();
  const q = new Playout(d.now);
  q.chunkSent("x", 8 * 1000);
  q.markTail();
  d.advance(960); // within the margin of the end
  assert.deepEqual(q.interrupt(), [], "nothing to truncate: the caller heard it all");
});

/** The per-chunk tracker Playout was before chunks sent back to back shared a record. */
class PerChunkReference {
  pending: {
    mark?: string;
    itemId: string;
    startMs: number;
    endMs: number;
    sentAt: number;
    scheduledAt: number;
  }[] = [];
  sent = new Map<string, number>();
  lastProofAt = -Infinity;
  scheduleEnd = -Infinity;
  constructor(readonly now: () => number) {}
  chunkSent(itemId: string, bytes: number, mark?: string): void {
    const startMs = this.sent.get(itemId) ?? 0;
    const endMs = startMs + bytes / 8;
    this.sent.set(itemId, endMs);
    const sentAt = this.now();
    const scheduledAt = Math.max(sentAt, this.scheduleEnd);
    this.scheduleEnd = scheduledAt + (endMs - startMs);
    this.pending.push({ itemId, startMs, endMs, sentAt, scheduledAt, mark });
  }
  markEchoed(name: string): void {
    const index = this.pending.findIndex((c) => c.mark === name);
    if (index < 0) return;
    this.pending.splice(0, index + 1);
    this.lastProofAt = this.now();
  }
  interrupt(): Map<string, number> {
    const out = new Map<string, number>();
    if (this.pending.length === 0) return out;
    const now = this.now();
    const proof = new Map<string, number>();
    let t = Math.max(this.pending[0].sentAt, this.lastProofAt);
    let playing = true;
    for (const c of this.pending) {
      if (!proof.has(c.itemId)) proof.set(c.itemId, c.startMs);
      if (!playing) continue;
      t = Math.max(t, c.sentAt);
      if (now >= t + c.endMs - c.startMs) (proof.set(c.itemId, c.endMs), t += c.endMs - c.startMs);
      else (proof.set(c.itemId, c.startMs + Math.max(0, now - t)), playing = false);
    }
    const schedule = new Map<string, number>();
    for (const c of this.pending) {
      const played = Math.min(c.endMs - c.startMs, Math.max(0, now - c.scheduledAt));
      if (!schedule.has(c.itemId) || played > 0) schedule.set(c.itemId, c.startMs + played);
    }
    for (const [itemId, p] of proof) {
      const ms = Math.min((p + (schedule.get(itemId) ?? p)) / 2, this.sent.get(itemId) ?? 0);
      out.set(itemId, Math.max(0, Math.floor(ms)));
    }
    this.pending = [];
    this.scheduleEnd = -Infinity;
    return out;
  }
}

Deno.test("playout: chunks sent back to back share a record, and every estimate stays the per-chunk one", () => {
  let seed = 3;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let run = 0; run < 300; run++) {
    const c = clock();
    const p = new Playout(c.now, [0, 100, 200][run % 3], 0);
    const ref = new PerChunkReference(c.now);
    // Twilio's side: what it has received, and when each mark's audio has played.
    let playEnd = -Infinity;
    const echoes: { name: string; at: number }[] = [];
    let item = 0;
    for (let step = 0; step < 60; step++) {
      const r = rand();
      if (r < 0.55) {
        if (rand() < 0.1) item++;
        const bytes = 160 * (1 + Math.floor(rand() * 4)) + (rand() < 0.1 ? 80 : 0);
        const mark = p.chunkSent(`i${item}`, bytes) ?? (rand() < 0.1 ? p.markTail() : undefined);
        ref.chunkSent(`i${item}`, bytes, mark);
        playEnd = Math.max(playEnd, c.now()) + bytes / 8;
        // The echo comes once the audio played, plus a network trip.
        if (mark) echoes.push({ name: mark, at: playEnd + rand() * 80 });
      } else if (r < 0.9) {
        c.advance(rand() < 0.8 ? rand() * 30 : rand() * 400);
      } else if (r < 0.97) {
        const expected = ref.interrupt();
        const got = new Map(p.interrupt().map((t) => [t.itemId, t.audioEndMs]));
        for (const [itemId, ms] of got) assert.equal(ms, expected.get(itemId), `run ${run}`);
        assert.ok(got.size <= expected.size);
        echoes.length = 0; // flushed: their echoes prove nothing
        playEnd = c.now();
      }
      for (const e of echoes.filter((e) => e.at <= c.now())) {
        p.markEchoed(e.name);
        ref.markEchoed(e.name);
      }
      echoes.splice(0, echoes.length, ...echoes.filter((e) => e.at > c.now()));
    }
  }
});
