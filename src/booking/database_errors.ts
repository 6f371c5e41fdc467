/**
 * What an operator reads when the database cannot be opened: the failure in plain words,
 * `DATABASE_URL` (password hidden) and what to change, instead of a driver's bare
 * `connect ECONNREFUSED` or `file is not a database`.
 *
 * @module
 */
import { dirname } from "node:path";

/** Where a `DATABASE_URL` points (see `parseDatabaseUrl` in `store.ts`). */
export type DatabaseTarget =
  | { kind: "sqlite"; path: string }
  | { kind: "postgres"; url: string };

/** The database named by `DATABASE_URL` could not be opened or migrated. */
export class DatabaseOpenError extends Error {
  /** Builds the error; the message names `DATABASE_URL` and what to do. */
  constructor(databaseUrl: string, target: DatabaseTarget, cause: unknown) {
    super(databaseOpenMessage(databaseUrl, target, cause), { cause });
    this.name = "DatabaseOpenError";
  }
}

/** `DATABASE_URL` with any password replaced, safe to print. */
export function redactDatabaseUrl(databaseUrl: string): string {
  return databaseUrl.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:[redacted]@");
}

/** A driver error's code (`ECONNREFUSED`, PostgreSQL SQLSTATE `3D000`, …), if it has one. */
function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function postgresHint(url: string, error: unknown, detail: string): string {
  let host = "?";
  let port = "5432";
  let user = "";
  let database = "";
  try {
    const u = new URL(url);
    host = u.hostname || "localhost";
    port = u.port || "5432";
    user = decodeURIComponent(u.username);
    database = decodeURIComponent(u.pathname.slice(1));
  } catch { /* an unparsable URL: the driver's own words follow */ }
  switch (codeOf(error)) {
    case "ECONNREFUSED":
      return `nothing accepts connections at ${host}:${port}. Is PostgreSQL running there? ` +
        "Start it, or fix the host and port in DATABASE_URL.";
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return `the host "${host}" cannot be found. Fix the host name in DATABASE_URL.`;
    case "CONNECT_TIMEOUT":
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `${host}:${port} does not answer (${detail}). Check the host, the port and ` +
        "any firewall between here and PostgreSQL, or fix DATABASE_URL.";
    case "28000":
      return `${detail}. Put an existing user in DATABASE_URL (postgres://USER@${host}/…), ` +
        `or create it${user ? ` (createuser ${user})` : ""}.`;
    case "28P01":
      return `${detail}. Fix the password in DATABASE_URL.`;
    case "3D000":
      return `${detail}. Create it${database ? ` (createdb ${database})` : ""}, ` +
        "or fix the database name in DATABASE_URL.";
    case "42501":
      return `${detail}: the user in DATABASE_URL may not create the tables. ` +
        "Grant it CREATE on the database (or schema), or use another user.";
    default:
      return `${detail}. Check DATABASE_URL.`;
  }
}

/** The nearest existing ancestor of `path` that is not a directory, if any. */
function fileInTheWay(path: string): string | undefined {
  for (let p = path; p !== dirname(p); p = dirname(p)) {
    try {
      if (!Deno.statSync(p).isDirectory) return p;
      return undefined; // an existing directory: nothing above it is in the way
    } catch { /* does not exist: look further up */ }
  }
  return undefined;
}

function sqliteHint(path: string, error: unknown, detail: string): string {
  const code = codeOf(error);
  const folder = dirname(path);
  if (code === "ENOTDIR" || code === "EEXIST") {
    const file = fileInTheWay(folder) ?? folder;
    return `cannot create the folder ${folder} for the SQLite file: ${file} is a file, not a ` +
      "folder. Point DATABASE_URL at another path, e.g. sqlite:./data/agent.db.";
  }
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    return `no permission to create ${folder} (${detail}). Point DATABASE_URL at a writable ` +
      "path, or give this user write access there.";
  }
  if (/file is not a database|file is encrypted/i.test(detail)) {
    return `${path} is not a SQLite database (another kind of file?). Point DATABASE_URL at a ` +
      "new file or an existing voice-agent database.";
  }
  if (/unable to open database file/i.test(detail)) {
    return `cannot create or open ${path}: the folder is missing or not writable. Point ` +
      "DATABASE_URL at a writable path.";
  }
  if (/readonly|read-only/i.test(detail)) {
    return `${path} is read-only (${detail}). Make it writable, or point DATABASE_URL elsewhere.`;
  }
  if (/database is locked|busy/i.test(detail)) {
    return `${path} is locked by another program (${detail}). Stop it, or point DATABASE_URL ` +
      "at another file.";
  }
  return `${detail}. Check DATABASE_URL.`;
}

/** One paragraph for the operator: what failed, where (`DATABASE_URL`), what to change. */
export function databaseOpenMessage(
  databaseUrl: string,
  target: DatabaseTarget,
  cause: unknown,
): string {
  const detail = cause instanceof Error ? cause.message : String(cause);
  const hint = target.kind === "postgres"
    ? postgresHint(target.url, cause, detail)
    : sqliteHint(target.path, cause, detail);
  return `cannot open the database (DATABASE_URL=${redactDatabaseUrl(databaseUrl)}): ${hint}`;
}
