/**
 * A minimal request/response channel between the load coordinator and its harness
 * processes: JSON lines over the child's stdin and stdout (`{"id","method","params"}` in,
 * `{"id","result"}` or `{"id","error"}` out). The child's stderr passes through to the
 * coordinator's stderr, prefixed with the child's name. Load-harness only.
 *
 * @module
 */
import { errorMessage } from "../../src/errors.ts";

/** A method a harness process answers. */
// deno-lint-ignore no-explicit-any
export type RpcHandler = (params: any) => unknown | Promise<unknown>;

/**
 * Serves requests from stdin until it closes (the coordinator is gone or done), then
 * returns. Nothing else may write to stdout.
 */
export async function serveRpc(handlers: Record<string, RpcHandler>): Promise<void> {
  const encoder = new TextEncoder();
  const out = Deno.stdout.writable.getWriter();
  const write = (message: unknown) => out.write(encoder.encode(JSON.stringify(message) + "\n"));
  let rest = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.trim()) continue;
      const { id, method, params } = JSON.parse(line) as {
        id: number;
        method: string;
        params: unknown;
      };
      // Requests run concurrently; each answers when done.
      void (async () => {
        try {
          const handler = handlers[method];
          if (!handler) throw new Error(`unknown method ${method}`);
          await write({ id, result: (await handler(params)) ?? null });
        } catch (error) {
          await write({ id, error: errorMessage(error) });
        }
      })();
    }
  }
}

/** Options of {@linkcode RpcChild.spawn}. */
export interface RpcChildOptions {
  /** Name in error messages and stderr lines. */
  name: string;
  /** Deno permission and V8 flags before the script. */
  denoFlags: string[];
  /** Arguments after the script. */
  args?: string[];
  /** Pin the process to these CPUs (`taskset -c LIST`), when given. */
  cpus?: string;
  /** Run it under `nice -n` this (below 0 needs root), when given. */
  nice?: number;
  /** Run it in this network namespace (`ip netns exec`; see `netdelay.py`), when given. */
  netns?: string;
}

/** A harness process the coordinator talks to. */
export class RpcChild {
  readonly name: string;
  readonly pid: number;
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  readonly #done: Promise<unknown>;
  #nextId = 0;
  #exited = false;

  private constructor(name: string, child: Deno.ChildProcess) {
    this.name = name;
    this.#child = child;
    this.pid = child.pid;
    this.#writer = child.stdin.getWriter();
    const readOut = async () => {
      let rest = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) {
          if (!line.trim()) continue;
          const reply = JSON.parse(line) as { id: number; result?: unknown; error?: string };
          const waiter = this.#pending.get(reply.id);
          this.#pending.delete(reply.id);
          if (reply.error !== undefined) waiter?.reject(new Error(`${name}: ${reply.error}`));
          else waiter?.resolve(reply.result);
        }
      }
    };
    const readErr = async () => {
      let rest = "";
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) if (line.trim()) console.error(`  [${name}] ${line}`);
      }
    };
    this.#done = Promise.allSettled([readOut(), readErr(), child.status]).then(() => {
      this.#exited = true;
      for (const waiter of this.#pending.values()) {
        waiter.reject(new Error(`${name} exited`));
      }
      this.#pending.clear();
    });
  }

  /** Starts `script` under Deno (pinned with `taskset` when `cpus` is given). */
  static spawn(script: string, options: RpcChildOptions): RpcChild {
    const denoArgs = ["run", ...options.denoFlags, script, ...(options.args ?? [])];
    let [command, args] = options.cpus
      ? ["taskset", ["-c", options.cpus, Deno.execPath(), ...denoArgs]]
      : [Deno.execPath(), denoArgs];
    if (options.nice !== undefined) {
      [command, args] = ["nice", ["-n", String(options.nice), command, ...args]];
    }
    if (options.netns !== undefined) {
      [command, args] = ["ip", ["netns", "exec", options.netns, command, ...args]];
    }
    const child = new Deno.Command(command, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new RpcChild(options.name, child);
  }

  /** Calls `method` in the child and waits for its answer. */
  call<T>(method: string, params: unknown = {}): Promise<T> {
    if (this.#exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = ++this.#nextId;
    const answer = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    const line = new TextEncoder().encode(JSON.stringify({ id, method, params }) + "\n");
    this.#writer.write(line).catch((error) => {
      this.#pending.get(id)?.reject(error);
      this.#pending.delete(id);
    });
    return answer;
  }

  /** Closes its stdin (the child then exits); kills it if it has not after `graceMs`. */
  async close(graceMs = 10_000): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* already exited */ }
    }, graceMs);
    await this.#done;
    clearTimeout(timer);
  }
}
