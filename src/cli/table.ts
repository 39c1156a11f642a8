/** Columns padded to their widest cell, two spaces apart: the CLI's listings. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** A time as the CLI prints it: ISO-8601 to the second, or a placeholder. */
export function when(ms: number | null, none = 'never'): string {
  return ms === null ? none : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
