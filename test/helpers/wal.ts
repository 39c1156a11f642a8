import { closeSync, openSync, readSync } from 'node:fs';

/**
 * The checkpoint sequence number in a SQLite WAL file's header (bytes 12–15,
 * big-endian; sqlite.org/fileformat2.html §4.1): SQLite counts it up each time
 * a commit starts the WAL again from its first frame.
 */
export function walSequence(databasePath: string): number {
  const header = Buffer.alloc(16);
  const fd = openSync(`${databasePath}-wal`, 'r');
  try {
    if (readSync(fd, header, 0, 16, 0) < 16) return 0;
  } finally {
    closeSync(fd);
  }
  return header.readUInt32BE(12);
}
