/**
 * The console's vendored browser files, read straight from their pinned npm packages
 * (text imports: no file-system paths into node_modules).
 *
 * @module
 */
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import uplotLicense from "uplot/LICENSE" with { type: "text" };

/** Each vendored file: its name under `src/console/static/vendor/` and its text. */
export const VENDORED: readonly { name: string; text: string }[] = [
  { name: "uPlot.iife.min.js", text: uplotJs },
  { name: "uPlot.min.css", text: uplotCss },
  { name: "uPlot.LICENSE", text: uplotLicense },
];
