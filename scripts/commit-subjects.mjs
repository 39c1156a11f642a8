#!/usr/bin/env node
// npm test: every commit subject since 6056f1d7a127 (when the rule was set, issue 31) is at most
// 72 characters, the detail in the body, so `git log --oneline` stays readable. Outside a git
// checkout (an npm pack, a source archive) there is nothing to check.
import { execFileSync } from 'node:child_process';

const SINCE = '6056f1d7a127173a00a2ffff4940b3ea825518ab';
const LIMIT = 72;
let log;
try {
  execFileSync('git', ['cat-file', '-e', `${SINCE}^{commit}`], { stdio: 'ignore' });
  log = execFileSync('git', ['log', '--format=%h%x09%s', `${SINCE}..HEAD`], { encoding: 'utf8' });
} catch {
  console.log('commit subjects: not a git checkout with the history; nothing to check');
  process.exit(0);
}
const long = log.split('\n').filter(Boolean).map((line) => line.split('\t')).filter(([, subject]) => subject.length > LIMIT);
for (const [hash, subject] of long) console.error(`commit ${hash}: subject of ${subject.length} characters (at most ${LIMIT}): ${subject}`);
console.log(`commit subjects: ${long.length === 0 ? 'all' : 'not all'} at most ${LIMIT} characters`);
process.exit(long.length === 0 ? 0 : 1);
