/**
 * The console's two server-rendered pages: the login form and the app shell the script
 * fills in. Neither holds console data; the shell carries the session's CSRF token.
 *
 * @module
 */

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Headers every console response carries: a strict CSP, no referrer, no framing. */
export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; " +
    "base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/** An HTML response with the security headers, never cached. */
export function htmlResponse(
  body: string,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(body, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      ...SECURITY_HEADERS,
      ...headers,
    },
  });
}

/** The login page. */
export function loginPage(options: {
  business: string;
  loginToken: string;
  error?: string;
}): string {
  const error = options.error
    ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>`
    : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · ${escapeHtml(options.business)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/login.css">
</head>
<body>
<main class="login">
<h1>${escapeHtml(options.business)}</h1>
<p>Operator console</p>
${error}
<form method="post" action="/console/login">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="login_csrf" value="${escapeHtml(options.loginToken)}">
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
`;
}

/** Console sections, in menu order: hash route and label. */
export const SECTIONS = [
  ["#/calendar", "Calendar"],
  ["#/calls", "Calls"],
  ["#/live", "Live"],
  ["#/quality", "Quality"],
  ["#/profile", "Business"],
] as const;

/** The app shell: menu, sign-out form, and the element the script renders into. */
export function shellPage(options: {
  business: string;
  csrfToken: string;
  /** Query string that busts caches when the files change. */
  assetVersion: string;
}): string {
  const v = encodeURIComponent(options.assetVersion);
  const nav = SECTIONS.map(([href, label]) => `<a href="${href}">${label}</a>`).join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="${escapeHtml(options.csrfToken)}">
<title>Console · ${escapeHtml(options.business)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/static/vendor/uPlot.min.css?v=${v}">
<link rel="stylesheet" href="/console/static/app.css?v=${v}">
<script src="/console/static/vendor/uPlot.iife.min.js?v=${v}" defer></script>
<script src="/console/static/app.js?v=${v}" type="module"></script>
</head>
<body>
<header class="top">
<strong class="brand">${escapeHtml(options.business)}</strong>
<nav>${nav}</nav>
<form method="post" action="/console/logout" class="signout">
<input type="hidden" name="csrf" value="${escapeHtml(options.csrfToken)}">
<button type="submit">Sign out</button>
</form>
</header>
<main id="app" aria-live="polite"><p class="muted">Loading…</p></main>
</body>
</html>
`;
}
