/**
 * What the service loads at start, and what `deno compile` embeds, read from the module
 * graph (`deno info --json`, the graph `deno compile` builds too).
 *
 * Every npm package loaded at start costs idle RSS in every process (see BENCHMARKS.md,
 * "Idle memory"): the twilio REST client, `postgres`, `ws` and the like load on first use with a
 * dynamic `import()` of a string literal, which `deno compile` still follows and embeds.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";

const ROOT = fromFileUrl(new URL("../", import.meta.url));

interface InfoDependency {
  code?: { specifier: string };
  isDynamic?: boolean;
}
interface InfoModule {
  specifier: string;
  dependencies?: InfoDependency[];
}

async function info(entry: string): Promise<Map<string, InfoModule>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const { modules } = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: InfoModule[];
  };
  return new Map(modules.map((m) => [m.specifier, m]));
}

/**
 * The specifiers reachable from `entry` through code imports: static ones only, or static
 * and dynamic (what `deno compile` embeds). Type-only imports load nothing.
 */
async function reachable(entry: string, dynamic: boolean): Promise<Set<string>> {
  const modules = await info(entry);
  const root = new URL(entry, `file://${ROOT}`).href;
  const seen = new Set<string>();
  const stack = [root];
  while (stack.length) {
    const s = stack.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of modules.get(s)?.dependencies ?? []) {
      if (d.code && (dynamic || !d.isDynamic)) stack.push(d.code.specifier);
    }
  }
  return seen;
}

/** `npm:twilio@6.2.0` -> `twilio`; `npm:/twilio@6.2.0/lib/x.js` -> `twilio/lib/x.js`. */
function npmModule(specifier: string): string | undefined {
  const m = /^npm:\/?((?:@[^/]+\/)?[^@/]+)@[^/]+(\/.*)?$/.exec(specifier);
  return m ? m[1] + (m[2] ?? "") : undefined;
}

function npmModules(specifiers: Set<string>): string[] {
  return [...specifiers].flatMap((s) => npmModule(s) ?? []).sort();
}

Deno.test("startup modules: the service loads only these npm modules at start (not the twilio or prom-client roots; twilio's REST client, postgres and ws on first use)", async () => {
  const atStart = await reachable("src/app.ts", false);
  assert.ok(atStart.has(new URL("src/call/call.ts", `file://${ROOT}`).href), "walked the app");
  assert.deepEqual(npmModules(atStart), [
    "@logtape/logtape",
    "prom-client/lib/counter.js",
    "prom-client/lib/gauge.js",
    "prom-client/lib/histogram.js",
    "prom-client/lib/registry.js",
    "twilio/lib/twiml/MessagingResponse.js",
    "twilio/lib/twiml/VoiceResponse.js",
    "twilio/lib/webhooks/webhooks.js",
    "zod",
  ]);
});

Deno.test("startup modules: `deno compile` still embeds what loads on first use (dynamic imports of string literals)", async () => {
  const embedded = await reachable("main.ts", true);
  const modules = npmModules(embedded);
  for (const lazy of ["twilio", "postgres", "ws"]) assert.ok(modules.includes(lazy), lazy);
  for (const file of ["src/app.ts", "src/booking/postgres_store.ts", "src/twilio/rest.ts"]) {
    assert.ok(embedded.has(new URL(file, `file://${ROOT}`).href), file);
  }
});

Deno.test("startup modules: the npm specifier parser", () => {
  assert.equal(npmModule("npm:twilio@6.2.0"), "twilio");
  assert.equal(npmModule("npm:/twilio@6.2.0/lib/a.js"), "twilio/lib/a.js");
  assert.equal(npmModule("npm:@logtape/logtape@2.4.2"), "@logtape/logtape");
  assert.equal(npmModule("file:///x.ts"), undefined);
});
