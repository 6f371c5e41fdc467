/**
 * The console's browser files (`src/console/static/`): its own script and styles and the
 * vendored uPlot chart library. They are read once when the console starts, relative to this
 * module, so they are found from the source tree and inside the compiled binary
 * (`deno compile --include src/console/static`).
 *
 * @module
 */
import { errorMessage } from "../errors.ts";

/** Every file the console serves, relative to `src/console/static/`. */
export const CONSOLE_STATIC_FILES = [
  "app.js",
  "app.css",
  "login.css",
  "vendor/uPlot.iife.min.js",
  "vendor/uPlot.min.css",
] as const;

/** A file the console serves. */
export type ConsoleStaticFile = typeof CONSOLE_STATIC_FILES[number];

/** URL of a console static file. */
export function consoleStaticUrl(name: string): URL {
  return new URL(`./static/${name}`, import.meta.url);
}

/** A loaded file, ready to serve. */
export interface StaticFile {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
  /** Strong ETag (SHA-256 of the content, shortened). */
  etag: string;
}

const TYPES: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

/** Reads every console file; throws (naming the file) when one is missing. */
export async function loadStaticFiles(): Promise<Map<ConsoleStaticFile, StaticFile>> {
  const files = new Map<ConsoleStaticFile, StaticFile>();
  for (const name of CONSOLE_STATIC_FILES) {
    let body: Uint8Array<ArrayBuffer>;
    try {
      body = await Deno.readFile(consoleStaticUrl(name));
    } catch (error) {
      throw new Error(`console asset ${name} cannot be read: ${errorMessage(error)}`);
    }
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
    files.set(name, {
      body,
      contentType: TYPES[name.split(".").at(-1)!] ?? "application/octet-stream",
      etag: `"${digest.subarray(0, 12).toBase64({ alphabet: "base64url" })}"`,
    });
  }
  return files;
}
