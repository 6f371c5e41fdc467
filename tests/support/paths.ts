/** Path helpers for tests. */
import { fileURLToPath } from "node:url";

/** Converts a `file:` URL to a filesystem path. */
export function fromFileUrl(url: URL): string {
  return fileURLToPath(url);
}
