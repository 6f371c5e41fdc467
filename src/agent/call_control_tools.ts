/**
 * Tools that end the conversation: hand the caller to a human, or hang up. They only
 * ask the call to do it; the call waits until the goodbye has actually played.
 *
 * @module
 */
import { z } from "zod";
import { defineTool, modelText, type Tool } from "./tools.ts";

/** What the call-control tools ask of the call. */
export interface CallControlRequests {
  /** Transfer once the current audio has played. Absent: no transfer tool is offered. */
  requestTransfer?(reason: string): void;
  /** Hang up once the current audio has played. */
  requestHangUp(reason: string): void;
}

const reason = modelText(200).describe("Why, in a few words");

/** Builds `end_call` and, when transfers are possible, `transfer_call`. */
export function callControlTools(requests: CallControlRequests): Tool[] {
  const tools: Tool[] = [
    defineTool({
      name: "end_call",
      description:
        "Hangs up after your goodbye has played. Say goodbye first, then call this. Do not speak after.",
      parameters: z.object({ reason }),
      timeoutMs: 1000,
      handler: ({ reason }) => {
        requests.requestHangUp(reason);
        return Promise.resolve({ status: "ending", note: "Say nothing more." });
      },
    }),
  ];
  const requestTransfer = requests.requestTransfer;
  if (requestTransfer) {
    tools.push(defineTool({
      name: "transfer_call",
      description:
        "Transfers the caller to a person. First tell the caller you are transferring them, then call this.",
      parameters: z.object({ reason }),
      timeoutMs: 1000,
      handler: ({ reason }) => {
        requestTransfer(reason);
        return Promise.resolve({ status: "transferring", note: "Say nothing more." });
      },
    }));
  }
  return tools;
}
