/**
 * A worker process for the SQLite multi-process race test (not a test by itself).
 *
 * Usage: `deno run -A sqlite_race_worker.ts <db path> <worker id> <start at epoch ms> <requests JSON>`
 * Waits until the shared start instant, books every request as fast as it can, and prints
 * one JSON line: `{ worker, confirmed: [{ id, start, end }], refused: number, ms: number[] }`.
 *
 * @module
 */
import { openStore } from "../../src/booking/store.ts";
import { MONDAY_7AM, testProfile } from "./fixtures.ts";

interface RaceRequest {
  serviceId: string;
  start: string;
}

const [dbPath, worker, startAt, requestsJson] = Deno.args;
const requests: RaceRequest[] = JSON.parse(requestsJson);
const store = await openStore(`sqlite:${dbPath}`, testProfile(), { clock: () => MONDAY_7AM });
const confirmed: { id: string; start: string; end: string }[] = [];
const ms: number[] = [];
let refused = 0;
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
for (const [i, r] of requests.entries()) {
  const t0 = performance.now();
  const result = await store.book({
    serviceId: r.serviceId,
    start: r.start,
    customerName: `Worker ${worker}`,
    customerPhone: `+1212${worker.padStart(3, "0")}${String(i).padStart(4, "0")}`,
  });
  ms.push(performance.now() - t0);
  if (result.ok) {
    confirmed.push({ id: result.booking.id, start: result.booking.start, end: result.booking.end });
  } else if (result.reason === "full") refused++;
  else throw new Error(`unexpected refusal: ${JSON.stringify(result)}`);
}
await store.close();
console.log(JSON.stringify({ worker, confirmed, refused, ms }));
