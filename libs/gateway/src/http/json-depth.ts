/**
 * How deep a request body may nest objects and arrays. Far beyond any body of the API (a JSON Schema in
 * `outputSchema` or `inputSchema` rarely passes 20 levels), far below the ~3,000 levels at which the recursive
 * validation pipe runs out of stack.
 */
export const MAX_JSON_DEPTH = 128;

const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/** What the parser refuses before parsing a JSON body, and why. */
export type JsonBodyProblem = 'too_deep' | 'nul';

/**
 * Checks JSON text in one pass, without parsing it: whether it nests objects and arrays deeper than `limit` (brackets
 * inside strings do not count), and whether a string holds a NUL (`\u0000`), which no Postgres text column can store,
 * so it would fail deep in a service instead of as a 400. Text that is not valid JSON is left for the parser.
 */
export function jsonBodyProblem(text: string, limit: number): JsonBodyProblem | null {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) {
        if (text.startsWith('u0000', i + 1)) return 'nul';
        i++;
      } else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > limit) return 'too_deep';
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    }
  }
  return null;
}
