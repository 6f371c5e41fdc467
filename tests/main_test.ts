/**
 * The entry point as an operator meets it: a real process, real flags, real env.
 */
import assert from "node:assert/strict";
import { freePort, runMain, waitForHealth } from "./support/process.ts";

const PERMS = ["--allow-net", "--allow-env", "--allow-read", "--allow-write", "--allow-sys"];

function run(args: string[], env: Record<string, string>, cwd?: string) {
  return runMain(args, PERMS, env, cwd);
}

Deno.test("main: --version and --help", async () => {
  const version = await run(["--version"], {}).output();
  assert.equal(version.code, 0);
  assert.match(new TextDecoder().decode(version.stdout), /^\d+\.\d+\.\d+\n$/);
  const help = await run(["--help"], {}).output();
  assert.equal(help.code, 0);
  assert.match(new TextDecoder().decode(help.stdout), /Usage:\n\s+voice-agent \[serve\]/);
  const bad = await run(["--frobnicate"], {}).output();
  assert.equal(bad.code, 2);
});

Deno.test("main: without the required variables it exits 1 with one readable message", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await run(["serve"], {}, dir).output();
    assert.equal(out.code, 1);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.match(stderr, /^Configuration error: 3 problems/);
    for (const name of ["PUBLIC_URL", "OPENAI_API_KEY", "TWILIO_AUTH_TOKEN"]) {
      assert.match(stderr, new RegExp(`- ${name} is required`));
    }
    assert.doesNotMatch(stderr, /\bat .*:\d+:\d+/, "no stack trace");
    assert.equal(new TextDecoder().decode(out.stdout), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main: starts with the three required variables (from .env) and serves /healthz", async () => {
  const dir = await Deno.makeTempDir();
  const port = await freePort();
  await Deno.writeTextFile(
    `${dir}/.env`,
    `PUBLIC_URL=https://voice.example.com\nOPENAI_API_KEY=sk-from-dotenv\nPORT=1\n`,
  );
  const child = run(["serve"], {
    TWILIO_AUTH_TOKEN: "token-from-env",
    PORT: String(port),
    HOST: "127.0.0.1",
    DATABASE_URL: `sqlite:${dir}/agent.db`,
  }, dir).spawn();
  try {
    const health = await waitForHealth(`http://127.0.0.1:${port}`);
    assert.equal(health.status, "ok");
  } finally {
    child.kill("SIGTERM");
    const out = await child.output();
    const logs = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.doesNotMatch(logs, /sk-from-dotenv|token-from-env/, "secrets stay out of logs");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main: a broken business profile stops start-up with the fields at fault", async () => {
  const dir = await Deno.makeTempDir();
  const profile = JSON.parse(
    await Deno.readTextFile(new URL("../assets/business.example.json", import.meta.url)),
  );
  profile.services[1].durationMinutes = -30;
  profile.timeZone = "Mars/Olympus_Mons";
  await Deno.writeTextFile(`${dir}/business.json`, JSON.stringify(profile));
  try {
    const out = await run(["serve"], {
      PUBLIC_URL: "https://voice.example.com",
      OPENAI_API_KEY: "sk-x",
      TWILIO_AUTH_TOKEN: "t",
      PORT: String(await freePort()),
      HOST: "127.0.0.1",
      DATABASE_URL: `sqlite:${dir}/agent.db`,
      BUSINESS_FILE: `${dir}/business.json`,
    }, dir).output();
    assert.equal(out.code, 1);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.match(stderr, /voice-agent cannot start: Invalid business profile/);
    assert.match(stderr, /services\[1\]\.durationMinutes: expected a positive integer/);
    assert.match(stderr, /timeZone: expected an IANA time zone/);
    assert.doesNotMatch(stderr, /\bat .*:\d+:\d+/, "no stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
