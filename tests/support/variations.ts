/**
 * What the e2e tests expect of the fake model's variation switches.
 *
 * @module
 */
import type { FakeSession, FakeVariation } from "../../scripts/sim/fake_realtime.ts";

/**
 * Error codes the fake sent to `session` because of the switches (and only those may
 * appear): the raced first `response.create`, then the refused one (the second when the
 * first raced, if the call asked for a second at all).
 */
export function injectedErrors(
  variation: FakeVariation | "all" | "none",
  session: FakeSession,
): string[] {
  const on = (v: FakeVariation) => variation === "all" || variation === v;
  const creates = session.clientEvents.filter((e) =>
    e.type === "response.create" &&
    (e.response as { conversation?: string } | undefined)?.conversation !== "none"
  ).length;
  const race = on("raceResponseCreate");
  return [
    ...(race ? ["conversation_already_has_active_response"] : []),
    ...(on("rejectResponseCreate") && creates >= (race ? 2 : 1) ? ["server_error"] : []),
  ];
}
