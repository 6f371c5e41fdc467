/**
 * Loading the `.env` file: the std/dotenv substitute (JSR is unreachable here).
 *
 * @module
 */
import { mergeEnv } from "./config.ts";

/**
 * Returns the environment merged with a `.env` file. Without `path`, `./.env` is used if it
 * exists; an explicit `path` that cannot be read is an error (the operator asked for it).
 */
export async function environmentWithDotenv(
  path: string | undefined,
): Promise<Record<string, string | undefined>> {
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(path ?? ".env");
  } catch (error) {
    if (path !== undefined || !(error instanceof Deno.errors.NotFound)) {
      throw new Error(`cannot read env file ${path ?? ".env"}: ${(error as Error).message}`);
    }
  }
  return mergeEnv(Deno.env.toObject(), text);
}
