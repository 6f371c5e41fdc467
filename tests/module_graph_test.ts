/**
 * The module graph stays acyclic: `deno info --json` lists every module reachable from
 * the entry points (static, dynamic and type-only imports); this walks the project's own
 * files and fails on any cycle, naming it. Also: scripts never import from tests.
 */
import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

const ROOT = fromFileUrl(new URL("../", import.meta.url));

interface InfoDependency {
  code?: { specifier: string };
  type?: { specifier: string };
}
interface InfoModule {
  specifier: string;
  dependencies?: InfoDependency[];
}

/** Project file -> project files it imports (any kind of import). */
async function projectGraph(entries: string[]): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const entry of entries) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
    for (const m of info.modules) {
      if (!m.specifier.startsWith("file://") || m.specifier.includes("/node_modules/")) continue;
      const from = relative(ROOT, fromFileUrl(m.specifier));
      const to = (m.dependencies ?? [])
        .flatMap((d) => [d.code?.specifier, d.type?.specifier])
        .filter((s): s is string => s !== undefined && s.startsWith("file://"))
        .map((s) => relative(ROOT, fromFileUrl(s)));
      graph.set(from, [...new Set([...(graph.get(from) ?? []), ...to])]);
    }
  }
  return graph;
}

/** Every cycle found by depth-first search, each as the list of files around it. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

async function entryPoints(): Promise<string[]> {
  const entries = ["main.ts"];
  for (const dir of ["scripts", "scripts/load", "scripts/sim"]) {
    for await (const e of Deno.readDir(`${ROOT}${dir}`)) {
      if (e.isFile && e.name.endsWith(".ts")) entries.push(`${dir}/${e.name}`);
    }
  }
  return entries;
}

Deno.test("module graph: no import cycles among the project's modules", async () => {
  const graph = await projectGraph(await entryPoints());
  assert.ok(graph.size > 50, `walked ${graph.size} modules`);
  assert.ok(graph.has("src/call/call.ts") && graph.has("src/booking/store.ts"));
  const found = cycles(graph);
  assert.deepEqual(found.map((c) => c.join(" -> ")), [], "import cycles");
});

Deno.test("module graph: scripts never import from tests (the fakes they share live in scripts/sim)", async () => {
  const graph = await projectGraph(await entryPoints());
  const crossings = [...graph].flatMap(([from, to]) =>
    from.startsWith("scripts/")
      ? to.filter((t) => t.startsWith("tests/")).map((t) => `${from} -> ${t}`)
      : []
  );
  assert.deepEqual(crossings, [], "scripts importing tests");
});

Deno.test("module graph: the cycle finder finds a planted cycle", () => {
  const graph = new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]]]);
  assert.deepEqual(cycles(graph), [["a.ts", "b.ts", "c.ts", "a.ts"]]);
});
