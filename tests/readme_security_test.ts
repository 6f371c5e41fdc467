/**
 * What the service cannot do itself, the README must tell the operator to do (issue 20,
 * point 14): Deno's HTTP server has no header-read timeout (500 half-open connections were
 * held 70 s), so the documented proxy configurations time out request headers and cap
 * connections per client; the "Security and limits" section states the trust model and
 * the bounds.
 */
import assert from "node:assert/strict";

const README = await Deno.readTextFile(new URL("../README.md", import.meta.url));

function section(title: string): string {
  const start = README.indexOf(title);
  assert.ok(start >= 0, `README has "${title}"`);
  const next = README.indexOf("\n#", start + title.length);
  return README.slice(start, next < 0 ? undefined : next);
}

Deno.test("README: the proxy configurations time out request headers and cap clients", () => {
  const proxy = section("### Reverse proxy and TLS");
  const caddy = /```\n(\{[\s\S]*?)```/.exec(proxy)?.[1] ?? "";
  assert.match(caddy, /servers \{\s*timeouts \{\s*read_header \d+s/, "Caddy: read_header");
  assert.doesNotMatch(caddy, /read_body|write /, "no timeout that would cut a call");
  const nginx = /```nginx\n([\s\S]*?)```/.exec(proxy)?.[1] ?? "";
  assert.match(nginx, /client_header_timeout \d+s;/, "nginx: client_header_timeout");
  assert.match(nginx, /limit_conn_zone \$binary_remote_addr/);
  assert.match(nginx, /limit_conn per_client \d+;/);
  assert.match(nginx, /proxy_read_timeout 3600s;/, "calls stay up");
});

Deno.test("README: Security and limits states the trust model, the edge's bounds and the proxy's part", () => {
  const security = section("## Security and limits");
  for (
    const phrase of [
      "**Trust model.**",
      "caller ID can be spoofed",
      "**One stream per call.**",
      "**Caller audio cannot outrun time.**",
      "**Sockets before `start` are bounded**",
      "What the reverse proxy must do",
      "**Time out request headers**",
      "MEDIA_TIMEOUT_SECONDS",
      "TWILIO_ALLOW_UNSIGNED",
    ]
  ) assert.ok(security.includes(phrase), `missing: ${phrase}`);
});
