/**
 * Loading the `.env` file: the std/dotenv substitute (JSR is unreachable here).
 *
 * Values are parsed by `node:util` `parseEnv`, which skips a line it cannot read without a
 * word; so every line is checked first, and a malformed one stops start-up with the file
 * and line named (never its value: it may be a secret).
 *
 * @module
 */
import { EnvSchema, mergeEnv } from "./config.ts";
import { errorMessage } from "./errors.ts";

/** One line of a `.env` file that is not `NAME=value`, a comment or blank. */
export interface DotenvProblem {
  /** 1-based line number. */
  line: number;
  /** What is wrong and what to write instead. */
  message: string;
}

/** A `.env` file with malformed lines; the message lists each with its line number. */
export class DotenvError extends Error {
  /** The malformed lines. */
  readonly problems: DotenvProblem[];
  /** Builds the error for the file at `path`. */
  constructor(path: string, problems: DotenvProblem[]) {
    const n = problems.length;
    super(
      `${path}: ${n} malformed line${n === 1 ? "" : "s"} (expected NAME=value, # comments ` +
        "or blank lines)\n" + problems.map((p) => `  - line ${p.line}: ${p.message}`).join("\n"),
    );
    this.name = "DotenvError";
    this.problems = problems;
  }
}

const KNOWN = new Set(Object.keys(EnvSchema.shape));
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** The first word of a line, only when it is one of our variables (anything else may be a secret). */
function knownWord(text: string): string | undefined {
  const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text)?.[0];
  return word && KNOWN.has(word) ? word : undefined;
}

/**
 * Checks the text of a `.env` file line by line: blank lines, `# comments`, and
 * `[export ]NAME=value` where a value in `"…"`, `'…'` or `` `…` `` may span lines (as
 * `parseEnv` reads them). Returns the lines that are none of those.
 */
export function dotenvProblems(text: string): DotenvProblem[] {
  const lines = text.split(/\r?\n/);
  const problems: DotenvProblem[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const body = line.replace(/^export\s+/, "");
    const eq = body.indexOf("=");
    if (eq < 0) {
      const word = knownWord(body);
      problems.push({
        line: i + 1,
        message: word
          ? `no "=" after ${word}; write ${word}=value`
          : 'no "=": write NAME=value, or start the line with # for a comment',
      });
      continue;
    }
    const name = body.slice(0, eq).trim();
    if (!NAME.test(name)) {
      problems.push({
        line: i + 1,
        message: name === ""
          ? 'nothing before "=": write NAME=value'
          : 'the name before "=" is not a variable name (letters, digits and _, not ' +
            "starting with a digit)",
      });
      continue;
    }
    const value = body.slice(eq + 1).trimStart();
    const quote = value[0];
    if (quote !== '"' && quote !== "'" && quote !== "`") continue;
    if (value.indexOf(quote, 1) > 0) continue;
    // A quoted value may continue on the next lines: find where it closes.
    let closed = false;
    for (let j = i + 1; j < lines.length; j++) {
      if (lines[j].includes(quote)) {
        closed = true;
        i = j;
        break;
      }
    }
    if (!closed) {
      problems.push({
        line: i + 1,
        message: `the ${quote} quote of ${name} is never closed; close it, or remove it`,
      });
    }
  }
  return problems;
}

/**
 * Returns the environment merged with a `.env` file. Without `path`, `./.env` is used if it
 * exists; an explicit `path` that cannot be read is an error (the operator asked for it).
 *
 * @throws {DotenvError} when the file has malformed lines
 */
export async function environmentWithDotenv(
  path: string | undefined,
): Promise<Record<string, string | undefined>> {
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(path ?? ".env");
  } catch (error) {
    if (path !== undefined || !(error instanceof Deno.errors.NotFound)) {
      throw new Error(`cannot read env file ${path ?? ".env"}: ${errorMessage(error)}`);
    }
  }
  if (text !== undefined) {
    const problems = dotenvProblems(text);
    if (problems.length > 0) throw new DotenvError(path ?? ".env", problems);
  }
  return mergeEnv(Deno.env.toObject(), text);
}
