import { sql, type Expression, type RawBuilder } from 'kysely';
import type { Dialect } from './database.js';

/**
 * Prefix searches over an index, for the admin console's lists (SPEC §12): `expr` starts with `prefix` exactly when
 * prefix <= expr < upperBound(prefix) in byte order (UTF-8's byte order is code point order), so the search is a
 * range scan that reads only what it returns. SQLite compares text in byte order by default; PostgreSQL in the
 * locale's, where a prefix's matches are not one range, so there the comparison (and its index, migration 0026)
 * names the "C" collation.
 */
export function inByteOrder<T>(dialect: Dialect, expr: Expression<T>): RawBuilder<T> {
  return dialect === 'postgres' ? sql<T>`${expr} collate "C"` : sql<T>`${expr}`;
}

/** The least string greater than every string that starts with `prefix`: its last code point plus one. */
export function upperBound(prefix: string): string {
  const points = [...prefix];
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!;
    // U+10FFFF has no successor: drop it and increment the one before (no valid prefix of a name ends so).
    if (last < 0x10ffff) return points.join('') + String.fromCodePoint(last === 0xd7ff ? 0xe000 : last + 1);
  }
  return '\u{10ffff}'.repeat(2);
}
