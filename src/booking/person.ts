/**
 * Who a booking is for, as a comparable key: the same caller may say "Sam", "sam" or
 * "Sam Lee" for the same person, while a family booking the same slot gives another name.
 *
 * @module
 */

/**
 * The words of a name, normalised: Unicode compatibility forms folded, accents dropped,
 * lower case, punctuation removed (`"  Zoë O'Neil "` → `["zoe", "oneil"]`).
 */
export function nameWords(name: string): string[] {
  return name.normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .replace(/['’‘`´.]/g, "")
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w !== "");
}

/**
 * True when two names given for a booking mean the same person: the same words, or one is
 * the start of the other ("Sam" and "Sam Lee"). "Sam Lee" and "Alex Lee" are two people, and
 * so are "Sam Lee" and "Sam Chen". Empty names never match.
 *
 * @example
 * ```ts
 * samePerson("Sam", "sam lee"); // true
 * samePerson("Sam Lee", "Alex Lee"); // false
 * ```
 */
export function samePerson(a: string, b: string): boolean {
  const x = nameWords(a);
  const y = nameWords(b);
  if (x.length === 0 || y.length === 0) return false;
  const [short, long] = x.length <= y.length ? [x, y] : [y, x];
  return short.every((w, i) => w === long[i]);
}
