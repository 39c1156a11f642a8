import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

/** `npm start`'s prestart: serve the dist/ npm install built; rebuild only when a source is newer. */
describe('scripts/build-if-stale.mjs', () => {
  // A project of one file whose output is the script's entry, dist/cli/main.js.
  const dir = mkdtempSync(join(tmpdir(), 'serika-stale-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src/main.ts'), 'export const answer: number = 42;\n');
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  writeFileSync(join(dir, 'tsconfig.build.json'), JSON.stringify({ compilerOptions: { outDir: 'dist/cli', rootDir: 'src', module: 'nodenext', target: 'es2022' }, include: ['src'] }));
  const output = join(dir, 'dist/cli/main.js');
  const run = () => execFileSync(process.execPath, [join(ROOT, 'scripts/build-if-stale.mjs')], { cwd: dir, encoding: 'utf8' });

  it('builds when dist/ is missing, then starts without building while nothing changed', () => {
    expect(run()).toContain('building dist/');
    expect(readFileSync(output, 'utf8')).toContain('answer = 42');
    expect(run()).toBe('');
  });

  it('rebuilds when a source is newer than dist/, and only then', () => {
    const built = statSync(output).mtimeMs / 1000;
    writeFileSync(join(dir, 'src/main.ts'), 'export const answer: number = 43;\n');
    utimesSync(join(dir, 'src/main.ts'), built + 0.01, built + 0.01); // newer than the build, older than the next
    expect(run()).toContain('sources changed since the last build');
    expect(readFileSync(output, 'utf8')).toContain('answer = 43');
    expect(run()).toBe('');
  });
});
