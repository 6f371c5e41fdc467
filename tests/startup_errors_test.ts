/**
 * Everyday start-up mistakes get one message that names the setting to fix: a port in use or
 * a wrong HOST (before any database is touched), every kind of database failure (always
 * naming DATABASE_URL, never its password), a malformed `.env` line (file and line, never the
 * value), and README and code agree on the defaults.
 */
import assert from "node:assert/strict";
import { PG_TEST_URL, pgAvailable } from "./booking/pg_test_db.ts";
import { openStore } from "../src/booking/store.ts";
import { DatabaseOpenError } from "../src/booking/database_errors.ts";
import { DEFAULT_BUSINESS_FILE, loadBusinessProfile } from "../src/booking/business.ts";
import { DotenvError, dotenvProblems, environmentWithDotenv } from "../src/env_file.ts";
import { EnvSchema } from "../src/config.ts";
import { freePort, runMain } from "./support/process.ts";

const PERMS = ["--allow-net", "--allow-env", "--allow-read", "--allow-write", "--allow-sys"];
const REQUIRED = {
  PUBLIC_URL: "https://voice.example.com",
  OPENAI_API_KEY: "sk-startup-test",
  TWILIO_AUTH_TOKEN: "startup-test-token",
};
const profile = loadBusinessProfile(DEFAULT_BUSINESS_FILE);

/** Runs `main.ts serve` with `env` from `cwd`; returns the exit code and stderr. */
async function serve(env: Record<string, string>, cwd: string) {
  const out = await runMain(["serve"], PERMS, { ...REQUIRED, ...env }, cwd).output();
  const stderr = new TextDecoder().decode(out.stderr).trim();
  return { code: out.code, stderr, stdout: new TextDecoder().decode(out.stdout) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function assertOneLine(stderr: string): void {
  assert.equal(stderr.split("\n").length, 1, `one line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\bat .*:\d+:\d+/, "no stack trace");
}

Deno.test("start-up: a port in use names the address and PORT, and no database is created", async () => {
  const dir = await Deno.makeTempDir();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    const { code, stderr } = await serve({
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_URL: `sqlite:${dir}/data/agent.db`,
    }, dir);
    assert.equal(code, 1);
    assertOneLine(stderr);
    assert.match(stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
    assert.match(stderr, /already in use/);
    assert.match(stderr, /set PORT to a free port/);
    assert.ok(!(await exists(`${dir}/data`)), "the database was not created before the bind");
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start-up: a HOST that is not this machine's, or not an address, names HOST", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const host of ["192.0.2.1", "no-such-host.invalid"]) {
      const { code, stderr } = await serve({
        HOST: host,
        PORT: String(await freePort()),
        DATABASE_URL: `sqlite:${dir}/data/agent.db`,
      }, dir);
      assert.equal(code, 1, stderr);
      assertOneLine(stderr);
      assert.match(stderr, new RegExp(`HOST=${host.replaceAll(".", "\\.")}`));
      assert.match(stderr, /Set HOST to an address of this machine: 127\.0\.0\.1/);
      assert.ok(!(await exists(`${dir}/data`)));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The DatabaseOpenError message of opening `url`. */
async function openError(url: string): Promise<string> {
  try {
    const store = await openStore(url, profile);
    await store.close();
  } catch (error) {
    assert.ok(error instanceof DatabaseOpenError, String(error));
    assert.match(error.message, /^cannot open the database \(DATABASE_URL=/);
    return error.message;
  }
  assert.fail(`${url} opened`);
}

Deno.test("start-up: SQLite failures name DATABASE_URL and what is wrong with the path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/afile`, "not a folder");
    // The folder for the database is a file (mkdir: EEXIST), or a file is above it (ENOTDIR).
    for (const path of [`${dir}/afile/agent.db`, `${dir}/afile/sub/agent.db`]) {
      const message = await openError(`sqlite:${path}`);
      assert.match(message, new RegExp(`${dir}/afile is a file, not a folder`), message);
      assert.match(message, /Point DATABASE_URL at another path/);
    }
    await Deno.writeTextFile(`${dir}/text.db`, "hello ".repeat(200));
    const notDb = await openError(`sqlite:${dir}/text.db`);
    assert.match(notDb, /text\.db is not a SQLite database/);
    assert.match(notDb, /Point DATABASE_URL at a new file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start-up: PostgreSQL that is not there names DATABASE_URL (password hidden)", async () => {
  const refused = await openError(
    `postgres://app:hunter2@127.0.0.1:${await freePort()}/agent`,
  );
  assert.match(refused, /nothing accepts connections at 127\.0\.0\.1:\d+/);
  assert.match(refused, /fix the host and port in DATABASE_URL/);
  assert.match(refused, /postgres:\/\/app:\[redacted\]@127\.0\.0\.1/);
  assert.doesNotMatch(refused, /hunter2/);
  const unknownHost = await openError("postgres://app@no-such-host.invalid:5432/agent");
  assert.match(unknownHost, /the host "no-such-host\.invalid" cannot be found/);
  assert.match(unknownHost, /Fix the host name in DATABASE_URL/);
});

const URL_PG = PG_TEST_URL;

Deno.test({
  name: "start-up: PostgreSQL refusing the role or the database names DATABASE_URL and the fix",
  ignore: !(await pgAvailable()),
  async fn() {
    const base = new URL(URL_PG);
    const noRole = new URL(base);
    noRole.username = "no_such_role_h19";
    const role = await openError(noRole.href);
    assert.match(role, /role "no_such_role_h19" does not exist/);
    assert.match(role, /Put an existing user in DATABASE_URL/);
    const noDb = new URL(base);
    noDb.pathname = "/no_such_database_h19";
    const db = await openError(noDb.href);
    assert.match(db, /database "no_such_database_h19" does not exist/);
    assert.match(db, /createdb no_such_database_h19/);
    assert.match(db, /fix the database name in DATABASE_URL/);
  },
});

Deno.test("start-up: a database failure stops main with one line naming DATABASE_URL", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { code, stderr } = await serve({
      HOST: "127.0.0.1",
      PORT: String(await freePort()),
      DATABASE_URL: `postgres://app:hunter2@127.0.0.1:${await freePort()}/agent`,
    }, dir);
    assert.equal(code, 1);
    assertOneLine(stderr);
    assert.match(stderr, /^voice-agent cannot start: cannot open the database \(DATABASE_URL=/);
    assert.doesNotMatch(stderr, /hunter2/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(".env: malformed lines are named by file and line, never by value", () => {
  const text = [
    "# settings",
    "PUBLIC_URL=https://voice.example.com",
    "PORT 8080",
    "OPENAI_API_KEY: sk-secret-value",
    "sk-bare-secret",
    "=oops",
    "export LOG_LEVEL=debug",
    'BUSINESS_FILE="multi',
    'line"',
    "",
    "TWILIO_AUTH_TOKEN='never closed",
  ].join("\n");
  const problems = dotenvProblems(text);
  assert.deepEqual(problems.map((p) => p.line), [3, 4, 5, 6, 11]);
  assert.match(problems[0].message, /no "=" after PORT; write PORT=value/);
  assert.match(problems[2].message, /no "=": write NAME=value/);
  assert.match(problems[3].message, /nothing before "="/);
  assert.match(problems[4].message, /' quote of TWILIO_AUTH_TOKEN is never closed/);
  const error = new DotenvError("config/.env", problems);
  assert.match(error.message, /^config\/\.env: 5 malformed lines/);
  assert.match(error.message, /\n {2}- line 3: /);
  assert.doesNotMatch(error.message, /sk-secret-value|sk-bare-secret|never closed'/);
  assert.deepEqual(dotenvProblems("A=1\n# c\n\n  B = 'x' # c\nC=\"a\nb\"\n"), []);
});

Deno.test(".env: a malformed line stops main and the simulator with the file and line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/.env`,
      "PUBLIC_URL=https://voice.example.com\nOPENAI_API_KEY sk-from-dotenv\n",
    );
    const out = await runMain(["serve"], PERMS, {}, dir).output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    assert.equal(out.code, 1);
    assert.match(stderr, /^\.env: 1 malformed line/);
    assert.match(stderr, /line 2: no "=" after OPENAI_API_KEY; write OPENAI_API_KEY=value/);
    assert.doesNotMatch(stderr, /sk-from-dotenv/);
    assert.doesNotMatch(stderr, /\bat .*:\d+:\d+/, "no stack trace");
    const call = await runMain(["call", "--say", "hi"], PERMS, {}, dir).output();
    assert.equal(call.code, 1);
    assert.match(new TextDecoder().decode(call.stderr), /line 2: no "=" after OPENAI_API_KEY/);
    // An explicit --env-file is named as given.
    await assert.rejects(
      () => environmentWithDotenv(`${dir}/.env`),
      (e: Error) => e instanceof DotenvError && e.message.startsWith(`${dir}/.env: 1 malformed`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** `name -> default` from README's configuration table, where the default is plain values. */
async function readmeDefaults(): Promise<Map<string, string>> {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const table = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("## Architecture"));
  const out = new Map<string, string>();
  for (const row of table.split("\n")) {
    const cells = row.split("|").map((c) => c.trim());
    if (cells.length < 4) continue;
    const names = cells[1].split(/\s*(?:\/|,)\s*/).map((n) => n.replaceAll("`", ""));
    const defaults = cells[2];
    // Only cells that are nothing but `values` (e.g. "`8080` / `127.0.0.1`").
    if (!/^`[^`]+`(\s*(?:\/|,)\s*`[^`]+`)*$/.test(defaults)) continue;
    const values = [...defaults.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    if (values.length !== names.length) continue;
    names.forEach((n, i) => out.set(n, values[i]));
  }
  return out;
}

Deno.test("README: the configuration table's defaults are the code's (HOST is loopback)", async () => {
  const documented = await readmeDefaults();
  assert.equal(documented.get("HOST"), "127.0.0.1");
  assert.equal(documented.get("PORT"), "8080");
  assert.ok(documented.size >= 10, `only ${documented.size} defaults found`);
  const shape = EnvSchema.shape as Record<string, { parse(v: unknown): unknown }>;
  for (const [name, value] of documented) {
    assert.ok(shape[name], `${name} is documented but not in the schema`);
    assert.equal(String(shape[name].parse(undefined)), value, `${name}: README says ${value}`);
  }
});
