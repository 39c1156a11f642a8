import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync, statSync } from 'node:fs';

/**
 * SPEC §6: the files Serika writes (the SQLite database, its -wal and -shm,
 * backups) are owner-only, and so is the data directory it creates: they hold
 * password hashes, token hashes and keys. The modes are given when a file is
 * created, never fixed afterwards, so there is no moment the data is readable.
 */
const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;

/** Creates the directory (and its missing parents) owner-only; one that exists is left as the operator made it. */
export function ensureOwnerOnlyDirectory(path: string): void {
  mkdirSync(path, { recursive: true, mode: DIRECTORY_MODE });
}

/**
 * Creates an empty file, owner-only (fchmod: exactly 0600 whatever the umask).
 * exclusive: refuse a file that exists (EEXIST); otherwise one that exists is left alone.
 */
export function createOwnerOnlyFile(path: string, exclusive: boolean): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', FILE_MODE);
  } catch (error) {
    if (!exclusive && (error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw error;
  }
  try {
    fchmodSync(fd, FILE_MODE);
  } finally {
    closeSync(fd);
  }
}

/** Makes each existing file of the list owner-only (0600); returns the ones that were not, with their old mode (e.g. "0644"). */
export function tightenToOwnerOnly(paths: readonly string[]): Array<{ path: string; mode: string }> {
  const tightened = [];
  for (const path of paths) {
    let mode: number;
    try {
      mode = statSync(path).mode & 0o777;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if ((mode & 0o077) === 0) continue;
    chmodSync(path, FILE_MODE);
    tightened.push({ path, mode: '0' + mode.toString(8) });
  }
  return tightened;
}
