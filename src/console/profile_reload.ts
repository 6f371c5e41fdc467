/**
 * The business profile in force, and reloading it from its file (console button or SIGHUP).
 *
 * A reload validates the whole file first; only a valid profile replaces the one in force
 * (and is handed to `apply`: the store and the call manager). A broken file leaves the old
 * profile in place, and the error is kept to be shown. Calls in progress keep the profile
 * they started with; new calls and every booking operation after the reload use the new one.
 *
 * @module
 */
import {
  type BusinessProfile,
  BusinessProfileError,
  loadBusinessProfile,
} from "../booking/business.ts";
import { logger } from "../log.ts";
import { errorMessage } from "../errors.ts";

const log = logger("console");

/** The last reload attempt. */
export interface ReloadAttempt {
  /** When (UTC ISO). */
  at: string;
  ok: boolean;
  /** What was wrong with the file (each problem on its own line). */
  error?: string;
  /** Problems with their JSON paths, when the file failed validation. */
  problems?: string[];
}

/** Holds the profile in force and reloads it. */
export class BusinessProfileSource {
  readonly #path: string | URL;
  readonly #apply: (profile: BusinessProfile) => void;
  #current: BusinessProfile;
  #loadedAt: string;
  #lastAttempt: ReloadAttempt | undefined;

  /** `initial` was loaded from `path` at start-up; `apply` installs a reloaded profile. */
  constructor(
    path: string | URL,
    initial: BusinessProfile,
    apply: (profile: BusinessProfile) => void,
  ) {
    this.#path = path;
    this.#current = initial;
    this.#apply = apply;
    this.#loadedAt = new Date().toISOString();
  }

  /** The profile in force. */
  get current(): BusinessProfile {
    return this.#current;
  }

  /** The file, as a path. */
  get path(): string {
    return this.#path instanceof URL ? decodeURIComponent(this.#path.pathname) : this.#path;
  }

  /** When the profile in force was loaded (UTC ISO). */
  get loadedAt(): string {
    return this.#loadedAt;
  }

  /** The last reload attempt, if any. */
  get lastAttempt(): ReloadAttempt | undefined {
    return this.#lastAttempt;
  }

  /** Reads and validates the file; installs it when valid, else keeps the old profile. */
  reload(): ReloadAttempt {
    const at = new Date().toISOString();
    try {
      const profile = loadBusinessProfile(this.#path);
      this.#apply(profile);
      this.#current = profile;
      this.#loadedAt = at;
      this.#lastAttempt = { at, ok: true };
      log.info("business profile reloaded from {path}", { path: this.path });
    } catch (error) {
      const problems = error instanceof BusinessProfileError ? error.problems : undefined;
      this.#lastAttempt = {
        at,
        ok: false,
        error: errorMessage(error),
        ...(problems ? { problems } : {}),
      };
      log.error("business profile reload failed; keeping the profile in force: {error}", {
        error: errorMessage(error),
      });
    }
    return this.#lastAttempt;
  }
}
