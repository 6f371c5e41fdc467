/**
 * What the e2e tests expect of the fake model's variation switches.
 *
 * @module
 */
import type { FakeVariation } from "../../scripts/sim/fake_realtime.ts";

/**
 * Error codes the fake sends to a call's session because of the switches (and only those
 * may appear): the raced first `response.create`, then the refused one.
 */
export function injectedErrors(variation: FakeVariation | "all" | "none"): string[] {
  const on = (v: FakeVariation) => variation === "all" || variation === v;
  return [
    ...(on("raceResponseCreate") ? ["conversation_already_has_active_response"] : []),
    ...(on("rejectResponseCreate") ? ["server_error"] : []),
  ];
}
