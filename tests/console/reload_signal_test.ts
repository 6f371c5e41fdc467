/**
 * SIGHUP reloads the business profile of a running service (a real process): a valid file
 * is taken, a broken one is refused with the error shown in the console, and the profile in
 * force stays.
 */
import assert from "node:assert/strict";
import { DEFAULT_BUSINESS_FILE } from "../../src/booking/business.ts";
import { freePort, runMain, taskFlags, waitForHealth } from "../support/process.ts";
import { waitUntil } from "../support/harness.ts";
import { CONSOLE_PASSWORD, signIn } from "./client.ts";

Deno.test({
  name: "console: SIGHUP reloads BUSINESS_FILE; a broken file keeps the old profile",
  ignore: Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "console-sighup-" });
    const file = `${dir}/business.json`;
    const original = JSON.parse(await Deno.readTextFile(DEFAULT_BUSINESS_FILE));
    await Deno.writeTextFile(file, JSON.stringify(original));
    const port = await freePort();
    const child = runMain(["serve"], await taskFlags("start"), {
      PUBLIC_URL: "https://voice.example.com",
      OPENAI_API_KEY: "sk-sighup-test",
      TWILIO_AUTH_TOKEN: "sighup-test-token",
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: `sqlite:${dir}/agent.db`,
      BUSINESS_FILE: file,
      CONSOLE_PASSWORD,
      DRAIN_SECONDS: "1",
    }, dir).spawn();
    const base = `http://127.0.0.1:${port}`;
    let output: Deno.CommandOutput | undefined;
    try {
      await waitForHealth(base, 30_000);
      const client = await signIn(base);
      const profile = async () => (await client.api("profile")).body;
      assert.equal((await profile()).profile.name, original.name);

      await Deno.writeTextFile(file, JSON.stringify({ ...original, name: "Maple & Main West" }));
      child.kill("SIGHUP");
      await waitUntil(
        async () => (await profile()).profile.name === "Maple & Main West",
        10_000,
        "the reloaded name",
      );
      assert.equal((await profile()).lastAttempt.ok, true);

      await Deno.writeTextFile(file, "{ not json");
      child.kill("SIGHUP");
      await waitUntil(async () => (await profile()).lastAttempt.ok === false, 10_000, "refusal");
      const after = await profile();
      assert.equal(after.profile.name, "Maple & Main West", "the profile in force stays");
      assert.match(after.lastAttempt.error, /not valid JSON/);
    } finally {
      child.kill("SIGTERM");
      output = await child.output();
      await Deno.remove(dir, { recursive: true });
    }
    const logs = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, logs);
    assert.match(logs, /business profile reloaded from/);
    assert.match(logs, /business profile reload failed; keeping the profile in force/);
  },
});
