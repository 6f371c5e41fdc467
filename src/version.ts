/**
 * The service's version, taken from `deno.json` so there is one place to bump it.
 * (A JSON import is embedded by `deno compile`, so the binary knows its version.)
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/** Semantic version of this build, e.g. `0.1.0`. */
export const VERSION: string = denoJson.version;
