import assert from "node:assert/strict";
import twilio from "twilio";
import {
  fakeSid,
  openMediaSocket,
  postSignedForm,
  startMessage,
  voiceWebhookParams,
} from "../../src/sim/twilio_caller.ts";
import { CallTokenSigner } from "../../src/twilio/call_token.ts";
import { mediaStreamUrl, parseForm, TwilioSignatureVerifier } from "../../src/twilio/signature.ts";
import {
  startTwilioTestServer,
  TEST_ACCOUNT_SID,
  TEST_AUTH_TOKEN,
  TEST_PUBLIC_URL,
  testConfig,
} from "../support/twilio_test_server.ts";
import { opened, within } from "../support/wait.ts";

const PUBLIC_MEDIA_URL = "wss://voice.example.com/twilio/media";

/** POSTs the voice webhook with a signature computed by npm:twilio over `signedUrl`/`signedParams`. */
async function postVoice(
  baseUrl: string,
  params: Record<string, string>,
  signature: string | null,
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (signature !== null) headers["x-twilio-signature"] = signature;
  return await fetch(baseUrl + "/twilio/voice", {
    method: "POST",
    headers,
    body: new URLSearchParams(params),
  });
}

/** Sends a raw WebSocket upgrade and returns the HTTP status line's code. */
async function upgradeStatus(port: number, signature: string | null): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const lines = [
      "GET /twilio/media HTTP/1.1",
      `Host: 127.0.0.1:${port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      ...(signature === null ? [] : [`X-Twilio-Signature: ${signature}`]),
      "",
      "",
    ];
    await conn.write(new TextEncoder().encode(lines.join("\r\n")));
    const buf = new Uint8Array(1024);
    const n = await conn.read(buf);
    const head = new TextDecoder().decode(buf.subarray(0, n ?? 0));
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  } finally {
    conn.close();
  }
}

const sign = (url: string, params: Record<string, string>) =>
  twilio.getExpectedTwilioSignature(TEST_AUTH_TOKEN, url, params);

Deno.test("voice webhook: real signatures from npm:twilio", async (t) => {
  const app = startTwilioTestServer();
  const params = voiceWebhookParams(app.callerOptions);
  const url = TEST_PUBLIC_URL + "/twilio/voice";
  try {
    await t.step("valid signature -> TwiML with a stream", async () => {
      const res = await postVoice(app.baseUrl, params, sign(url, params));
      const body = await res.text();
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/xml/);
      assert.match(body, /<Connect><Stream url="wss:\/\/voice\.example\.com\/twilio\/media"/);
      assert.match(body, /<Parameter name="callToken" value="v2\./);
      assert.match(body, /<\/Connect><Hangup\/><\/Response>$/);
      assert.equal(app.incoming.length, 1);
      assert.equal(app.incoming[0].callSid, params.CallSid);
    });
    const rejected: [string, Record<string, string>, string | null][] = [
      ["tampered param", { ...params, From: "+15550000000" }, sign(url, params)],
      ["wrong URL", params, sign("https://other.example.com/twilio/voice", params)],
      ["http instead of https", params, sign("http://voice.example.com/twilio/voice", params)],
      ["missing header", params, null],
      ["signature over the local address", params, sign(app.baseUrl + "/twilio/voice", params)],
    ];
    for (const [name, sent, signature] of rejected) {
      await t.step(`${name} -> 403 without TwiML`, async () => {
        const res = await postVoice(app.baseUrl, sent, signature);
        const body = await res.text();
        assert.equal(res.status, 403);
        assert.doesNotMatch(body, /<Response>/);
      });
    }
    assert.equal(app.incoming.length, 1, "rejected webhooks never reach onIncomingCall");
  } finally {
    await app.close();
  }
});

Deno.test("voice webhook: wrong content type 415, oversized body 413, foreign account 403", async () => {
  const app = startTwilioTestServer({ maxBodyBytes: 2048 });
  try {
    const json = await fetch(app.baseUrl + "/twilio/voice", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    await json.body?.cancel();
    assert.equal(json.status, 415);
    const big = await postSignedForm(app.callerOptions, "/twilio/voice", {
      ...voiceWebhookParams(app.callerOptions),
      Junk: "x".repeat(4096),
    });
    await big.body?.cancel();
    assert.equal(big.status, 413);
    const foreign = await postSignedForm(
      app.callerOptions,
      "/twilio/voice",
      voiceWebhookParams({ ...app.callerOptions, accountSid: "AC" + "1".repeat(32) }),
    );
    await foreign.body?.cancel();
    assert.equal(foreign.status, 403);
    assert.equal(app.incoming.length, 0);
  } finally {
    await app.close();
  }
});

Deno.test("voice webhook: busy or draining answers with Say and optional Dial", async () => {
  for (const transfer of [undefined, "+15551234567"]) {
    const app = startTwilioTestServer({
      admission: () => ({ accept: false, reason: "busy" }),
      env: transfer ? { TRANSFER_NUMBER: transfer } : {},
    });
    try {
      const res = await postSignedForm(
        app.callerOptions,
        "/twilio/voice",
        voiceWebhookParams(app.callerOptions),
      );
      const body = await res.text();
      assert.equal(res.status, 200);
      assert.match(body, /<Say>[^<]+<\/Say>/);
      assert.doesNotMatch(body, /<Stream/);
      if (transfer) assert.match(body, /<Dial>\+15551234567<\/Dial>/);
      else assert.doesNotMatch(body, /<Dial>/);
      assert.equal(app.incoming.length, 0);
    } finally {
      await app.close();
    }
  }
});

Deno.test("media upgrade: real signatures from npm:twilio, checked before upgrading", async (t) => {
  const app = startTwilioTestServer();
  const port = app.server.addr.port;
  try {
    await t.step("valid signature -> 101", async () => {
      // Upgraded, then the raw connection closes without a start: no stream is accepted.
      assert.equal(await upgradeStatus(port, sign(PUBLIC_MEDIA_URL, {})), 101);
    });
    const rejected: [string, string | null][] = [
      ["tampered params", sign(PUBLIC_MEDIA_URL, { callToken: "x" })],
      ["wrong URL", sign("wss://other.example.com/twilio/media", {})],
      ["https instead of wss", sign("https://voice.example.com/twilio/media", {})],
      ["ws instead of wss", sign("ws://voice.example.com/twilio/media", {})],
      ["missing header", null],
    ];
    for (const [name, signature] of rejected) {
      await t.step(`${name} -> 403`, async () => {
        assert.equal(await upgradeStatus(port, signature), 403);
      });
    }
    assert.equal(app.streams.length, 0);
  } finally {
    await app.close();
  }
});

/** Opens a signed media socket and sends connected + start with the given token and CallSid. */
async function startWithToken(
  app: ReturnType<typeof startTwilioTestServer>,
  callSid: string,
  callToken: string | undefined,
  accountSid = TEST_ACCOUNT_SID,
  numbers: Record<string, string> = {},
): Promise<{ code: number; reason: string }> {
  const ws = openMediaSocket(app.callerOptions, PUBLIC_MEDIA_URL);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.onclose = (ev) => resolve({ code: ev.code, reason: ev.reason });
  });
  await opened(ws);
  const streamSid = fakeSid("MZ");
  ws.send(JSON.stringify({ event: "connected", protocol: "Call", version: "1.0.0" }));
  ws.send(JSON.stringify(startMessage({
    accountSid,
    streamSid,
    callSid,
    customParameters: callToken === undefined ? numbers : { callToken, ...numbers },
  })));
  // A stream that is wrongly accepted stays open: fail, do not wait forever.
  return await within(closed, 5000, `the service to refuse the stream of ${callSid}`);
}

Deno.test("media socket: the call token must match the CallSid, or no stream is opened", async () => {
  const app = startTwilioTestServer();
  try {
    const signer = await CallTokenSigner.create(TEST_AUTH_TOKEN);
    const otherCall = await signer.issue({ callSid: fakeSid("CA"), from: "", to: "" });
    for (const token of [undefined, "bogus", otherCall]) {
      const result = await startWithToken(app, fakeSid("CA"), token);
      assert.equal(result.code, 1008);
      assert.equal(result.reason, "invalid call token");
    }
    const foreignSigner = await CallTokenSigner.create("another-auth-token");
    const sid = fakeSid("CA");
    const foreign = await startWithToken(
      app,
      sid,
      await foreignSigner.issue({ callSid: sid, from: "", to: "" }),
    );
    assert.equal(foreign.reason, "invalid call token");
    assert.equal(app.streams.length, 0);
  } finally {
    await app.close();
  }
});

Deno.test("media socket: a start from another Twilio account is refused, even with a good token", async () => {
  const app = startTwilioTestServer();
  try {
    const signer = await CallTokenSigner.create(TEST_AUTH_TOKEN);
    const sid = fakeSid("CA");
    const foreign = await startWithToken(
      app,
      sid,
      await signer.issue({ callSid: sid, from: "", to: "" }),
      "AC" + "1".repeat(32),
    );
    assert.deepEqual(foreign, { code: 1008, reason: "invalid account" });
    assert.equal(app.streams.length, 0, "no stream reached the call layer");
  } finally {
    await app.close();
  }
});

Deno.test("media socket: no start within the timeout closes the socket", async () => {
  const app = startTwilioTestServer({ startTimeoutMs: 100 });
  try {
    const ws = openMediaSocket(app.callerOptions, PUBLIC_MEDIA_URL);
    const closed = await within(
      new Promise<CloseEvent>((resolve) => ws.onclose = resolve),
      5000,
      "the service to close a socket without start",
    );
    assert.equal(closed.code, 1008);
    assert.equal(closed.reason, "no start message");
    assert.equal(app.streams.length, 0);
  } finally {
    await app.close();
  }
});

Deno.test("verifier: disabled validation accepts anything; URLs come from PUBLIC_URL", () => {
  const off = new TwilioSignatureVerifier(
    testConfig({ TWILIO_VALIDATE_SIGNATURES: "false", TWILIO_ALLOW_UNSIGNED: "true" }),
  );
  assert.equal(off.verifyWebhook(null, "/twilio/voice", {}), true);
  assert.equal(off.verifyMediaUpgrade("nonsense"), true);
  const on = new TwilioSignatureVerifier(testConfig());
  const params = parseForm("B=2&A=1&A=3");
  assert.deepEqual(params, { B: "2", A: ["1", "3"] });
  const url = TEST_PUBLIC_URL + "/twilio/status?x=1";
  assert.equal(
    on.verifyWebhook(sign(url, { B: "2", A: "1" }), "/twilio/status?x=1", { B: "2", A: "1" }),
    true,
  );
  assert.equal(on.verifyWebhook(sign(url, {}), "/twilio/status", {}), false, "query is signed");
  assert.equal(
    mediaStreamUrl("https://voice.example.com:8443"),
    "wss://voice.example.com:8443/twilio/media",
  );
});

Deno.test("call tokens: bound to the CallSid and both numbers, expire, reject tampering", async () => {
  let now = 1_000_000;
  const signer = await CallTokenSigner.create(TEST_AUTH_TOKEN, { ttlMs: 1000, now: () => now });
  const claims = { callSid: "CA1", from: "+15550001111", to: "+15559990000" };
  const token = await signer.issue(claims);
  assert.equal(await signer.verify(token, claims), true);
  assert.equal(await signer.verify(token, { ...claims, callSid: "CA2" }), false);
  assert.equal(await signer.verify(token, { ...claims, from: "+15557654321" }), false, "from");
  assert.equal(await signer.verify(token, { ...claims, to: "+15551112222" }), false, "to");
  // Fields are length-prefixed: moving characters between them changes the MAC.
  const shifted = { ...claims, from: "+1555000111", to: "1+15559990000" };
  assert.equal(await signer.verify(token, shifted), false);
  const [v, exp, mac] = token.split(".");
  const later = (parseInt(exp, 36) + 60_000).toString(36);
  assert.equal(await signer.verify(`${v}.${later}.${mac}`, claims), false, "expiry is signed");
  const flipped = mac.slice(0, -2) + (mac.at(-2) === "A" ? "B" : "A") + mac.at(-1);
  assert.equal(await signer.verify(`${v}.${exp}.${flipped}`, claims), false);
  assert.equal(await signer.verify(`${v}.${exp}.%%%`, claims), false);
  assert.equal(await signer.verify(undefined, claims), false);
  assert.equal(await signer.verify(`v1.${exp}.${mac}`, claims), false, "old format");
  now += 1001;
  assert.equal(await signer.verify(token, claims), false, "expired");
});
