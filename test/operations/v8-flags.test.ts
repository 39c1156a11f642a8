import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const { pretenuringFlag } = createRequire(import.meta.url)('../../bin/v8-flags.js') as {
  pretenuringFlag: (execArgv: string[]) => string | null;
};

/**
 * bin/serika.js turns V8's allocation-site pretenuring off before the first ES module loads: left on,
 * about half of the server's starts judged request objects long-lived for good and spent 1.6-1.9 x
 * the CPU per userinfo request (bench/NOTES.md).
 */
describe('V8 flags of `serika`', () => {
  it('turns allocation-site pretenuring off unless the operator named the flag on the command line', () => {
    expect(pretenuringFlag([])).toBe('--no-allocation-site-pretenuring');
    expect(pretenuringFlag(['--trace-pretenuring', '--max-old-space-size=512'])).toBe('--no-allocation-site-pretenuring');
    expect(pretenuringFlag(['--allocation-site-pretenuring'])).toBeNull();
    expect(pretenuringFlag(['--no-allocation_site_pretenuring'])).toBeNull();
  });

  /** Tenuring decisions V8 traces for a loop whose objects all survive, with bin/v8-flags.js applied or not. */
  function tenuringDecisions(applied: boolean): number {
    const script = `
      if (${applied}) require('./bin/v8-flags.js').setV8Flags();
      const keep = [];
      function make(i) { return { i, name: 'x' + i, list: [i] }; }
      for (let i = 0; i < 2e6; i++) keep.push(make(i));
    `;
    const trace = execFileSync(process.execPath, ['--trace-pretenuring', '--trace-pretenuring-statistics', '-e', script], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    return trace.split('\n').filter((line) => line.includes('pretenuring:')).length;
  }

  it('takes effect when set at run time, as bin/serika.js sets it', () => {
    // Without it V8 decides on this loop's sites (the check that the trace shows what it should) …
    expect(tenuringDecisions(false)).toBeGreaterThan(0);
    // … and with it V8 tracks no site at all.
    expect(tenuringDecisions(true)).toBe(0);
  });
});
