import { closeSync, fsyncSync, linkSync, openSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

/**
 * Writes `content` to `path` only if no file is there yet, atomically: it is written and fsync'ed
 * under a temporary name and then hard-linked into place, so a process that starts at the same
 * moment (replicas sharing DATA_DIR) either makes the file or finds it complete, never half written.
 * Returns whether this call made it.
 */
export const createFileOnce = (path: string, content: string, mode = 0o600): boolean => {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(temp, { force: true });
  }
};
