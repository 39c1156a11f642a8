import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

/** The code blocks of docs/integrating.md marked `<!-- excerpt: FILE -->`, each with its file. */
function excerpts(): Array<{ file: string; code: string }> {
  const doc = readFileSync(join(ROOT, 'docs/integrating.md'), 'utf8');
  return [...doc.matchAll(/<!-- excerpt: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)].map((m) => ({ file: m[1]!, code: m[2]! }));
}

/** The lines without their common indentation (an excerpt of an indented script reads flush left). */
function dedent(lines: string[]): string[] {
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent));
}

/** Whether `code` is a run of whole lines of `source`, indentation aside. */
function isExcerptOf(code: string, source: string): boolean {
  const want = dedent(code.split('\n')).join('\n');
  const lines = source.split('\n');
  for (let start = 0; start + code.split('\n').length <= lines.length; start++) {
    if (dedent(lines.slice(start, start + code.split('\n').length)).join('\n') === want) return true;
  }
  return false;
}

/** The examples of the integration matrix: those with a test in test/examples/. */
const MATRIX = readdirSync(join(ROOT, 'test/examples'))
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => `examples/${f.replace(/\.test\.ts$/, '')}/`);

/**
 * docs/integrating.md's quickstarts are the code the integration matrix runs: each marked block is
 * a run of lines of its example file (test/examples/ runs those files against Serika), so the docs
 * cannot drift from code that works.
 */
describe("docs/integrating.md's quickstarts", () => {
  const blocks = excerpts();

  it('quote every example of the matrix', () => {
    expect(MATRIX.length).toBeGreaterThanOrEqual(7);
    for (const example of MATRIX) expect(blocks.some((b) => b.file.startsWith(example)), `no excerpt of ${example}`).toBe(true);
  });

  it.each(blocks.map((b, i) => ({ ...b, n: i + 1 })))('excerpt $n is a run of lines of $file', ({ file, code }) => {
    const source = readFileSync(join(ROOT, file), 'utf8');
    // The lines the file lacks first, for a readable failure; then that they are one run, in order.
    expect(code.split('\n').filter((line) => !source.includes(line.trim()))).toEqual([]);
    expect(isExcerptOf(code, source)).toBe(true);
  });
});
