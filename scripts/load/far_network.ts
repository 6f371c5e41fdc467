/**
 * A distant fake model for the load harness: starts `netdelay.py` (a network namespace a
 * fixed delay away, ACKs included; see there why not `tc netem`) and says where to run
 * and bind the model's processes. Needs root, `ip` and `python3`.
 *
 * @module
 */

/** A running delayed network. */
export interface FarNetwork {
  /** Network namespace the fake model's processes run in (`ip netns exec`). */
  netns: string;
  /** Address the fake model listens on, reached through the delay. */
  host: string;
  /** One-way delay, ms (the round trip is twice this). */
  delayMs: number;
  /** Stops the relay; the namespace and its devices go with it. */
  close(): Promise<void>;
}

/** Address of the far side (see `netdelay.py`). */
const FAR_HOST = "10.77.0.2";

/**
 * Starts the relay and waits until the namespace is set up; `nice` runs it at the
 * harness's priority (it is part of the harness).
 */
export async function startFarNetwork(delayMs: number, nice?: number): Promise<FarNetwork> {
  const netns = `loadfar${Deno.pid}`;
  const script = new URL("./netdelay.py", import.meta.url).pathname;
  const relay = ["python3", script, `--netns=${netns}`, `--delay-ms=${delayMs}`];
  const [command, ...args] = nice === undefined ? relay : ["nice", "-n", String(nice), ...relay];
  const child = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) {
      await stdin.close().catch(() => {});
      await child.status;
      throw new Error(`netdelay.py did not start (needs root, ip and python3): ${seen}`);
    }
    seen += value;
  }
  // Nothing more is printed; drain so the pipe closes with the process.
  const drained = (async () => {
    while (!(await reader.read()).done) { /* nothing */ }
  })();
  return {
    netns,
    host: FAR_HOST,
    delayMs,
    async close() {
      // Closing stdin ends the relay, which removes the namespace.
      await stdin.close().catch(() => {});
      await child.status;
      await drained;
    },
  };
}
