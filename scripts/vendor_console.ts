/**
 * Copies the console's browser libraries from their npm packages (versions pinned in
 * deno.json) into `src/console/static/vendor/`, where the service serves them and
 * `deno compile --include src/console/static` embeds them. Run after changing a version:
 *
 *   deno run --allow-write=src/console/static/vendor scripts/vendor_console.ts
 *
 * `tests/console/vendor_test.ts` fails while the copies differ from the pinned packages.
 */
import { VENDORED } from "./vendored_files.ts";

for (const file of VENDORED) {
  const target = new URL(`../src/console/static/vendor/${file.name}`, import.meta.url);
  await Deno.writeTextFile(target, file.text);
  console.log(`wrote ${target.pathname} (${file.text.length} bytes)`);
}
