/**
 * Recording retention: a periodic sweep deletes call recordings older than
 * `RECORDING_RETENTION_DAYS` (by the time the file was last written, i.e. when its call
 * ended), says so in the log, and marks each deleted recording on its call record
 * (`extra.recording.deletedAt`), so nobody looks for a file that is gone.
 *
 * @module
 */
import { join } from "node:path";
import type { Clock, TimerHandle } from "../clock.ts";
import { systemClock } from "../clock.ts";
import type { Logger } from "../log.ts";
import { errorMessage } from "../errors.ts";
import type { CallRecord } from "../call/record.ts";

/** What the sweep reads and updates of the call records. */
export interface RecordingRecords {
  getCall(callSid: string): Promise<CallRecord | undefined>;
  saveCall(record: CallRecord): Promise<void>;
}

/** Options of {@linkcode RecordingRetention}. */
export interface RetentionOptions {
  /** The recordings directory (`RECORDINGS_DIR`). */
  dir: string;
  retentionDays: number;
  records: RecordingRecords;
  log: Logger;
  /** Time between sweeps, ms. Default one hour. */
  everyMs?: number;
  clock?: Clock;
  /** Called once per deleted file (metrics). */
  onDeleted?: () => void;
}

/** What one sweep did. */
export interface SweepResult {
  /** Paths deleted. */
  deleted: string[];
  /** Files that could not be deleted (kept for the next sweep). */
  failed: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const CALL_FILE = /^([A-Za-z0-9_-]{1,64})\.wav$/;

/** Deletes old recordings, now and then every `everyMs`. */
export class RecordingRetention {
  readonly #options: RetentionOptions;
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(options: RetentionOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Sweeps now (in the background) and then periodically. */
  start(): void {
    this.#tick();
  }

  /** Stops the periodic sweep and waits for one in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    await this.#running;
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#running = this.sweep().catch((error) =>
      this.#options.log.error("recording retention sweep failed: {error}", {
        error: errorMessage(error),
      })
    );
    this.#timer = this.#clock.setTimeout(
      () => this.#tick(),
      this.#options.everyMs ?? 60 * 60 * 1000,
    );
  }

  /** Deletes every recording last written before `now` minus the retention. */
  async sweep(now: number = this.#clock.wallNow()): Promise<SweepResult> {
    const { dir, retentionDays, log } = this.#options;
    const cutoff = now - retentionDays * DAY_MS;
    const result: SweepResult = { deleted: [], failed: 0 };
    for (const { path, callSid, folder } of await listRecordings(dir)) {
      let mtime: number;
      try {
        mtime = (await Deno.stat(path)).mtime?.getTime() ?? now;
      } catch {
        continue; // gone meanwhile
      }
      if (mtime >= cutoff) continue;
      try {
        await Deno.remove(path);
      } catch (error) {
        result.failed++;
        log.error("could not delete the old recording {path}: {error}", {
          path,
          error: errorMessage(error),
        });
        continue;
      }
      result.deleted.push(path);
      this.#options.onDeleted?.();
      log.info("deleted the recording of call {callSid}: older than {days} days", {
        callSid,
        path,
        days: retentionDays,
      });
      await this.#markDeleted(callSid, path, now);
      if (folder) await Deno.remove(folder).catch(() => {}); // only succeeds once it is empty
    }
    if (result.deleted.length > 0) {
      log.info("recording retention: deleted {count} recordings older than {days} days", {
        count: result.deleted.length,
        days: retentionDays,
      });
    }
    return result;
  }

  /** Notes on the call record that its recording is gone. */
  async #markDeleted(callSid: string, path: string, now: number): Promise<void> {
    try {
      const record = await this.#options.records.getCall(callSid);
      if (!record) return;
      const previous = record.extra?.recording;
      const recording = typeof previous === "object" && previous !== null ? previous : { path };
      await this.#options.records.saveCall({
        ...record,
        extra: {
          ...record.extra,
          recording: {
            ...recording,
            deletedAt: new Date(now).toISOString(),
            deletedBecause: `older than ${this.#options.retentionDays} days`,
          },
        },
      });
    } catch (error) {
      this.#options.log.error("could not mark the deleted recording on call {callSid}: {error}", {
        callSid,
        error: errorMessage(error),
      });
    }
  }
}

/** Recordings under `dir` (`DIR/YYYY-MM-DD/CALLSID.wav`, or directly in `DIR`). */
async function listRecordings(
  dir: string,
): Promise<{ path: string; callSid: string; folder?: string }[]> {
  const out: { path: string; callSid: string; folder?: string }[] = [];
  const read = async (folder: string, nested: boolean) => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(folder));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const e of entries) {
      const m = CALL_FILE.exec(e.name);
      if (e.isFile && m) {
        out.push({ path: join(folder, e.name), callSid: m[1], ...(nested ? { folder } : {}) });
      } else if (!nested && e.isDirectory && /^\d{4}-\d{2}-\d{2}$/.test(e.name)) {
        await read(join(folder, e.name), true);
      }
    }
  };
  await read(dir, false);
  return out;
}
