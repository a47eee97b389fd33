import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * `mkdir -p` that always ends, and says why it could not. Node's own `mkdirSync(dir, { recursive:
 * true })` (20.x; the promise version too) spins at full CPU and never returns when a parent exists
 * but mkdir of the child still answers ENOENT, as under `/proc`: Node makes the parent (EEXIST,
 * fine) and tries the child again, forever. `npm start` given such a DATA_DIR froze before its first
 * log line. Below a dangling symlink (a data volume that is not mounted) Node gives a bare ENOENT
 * that does not say which part is missing.
 *
 * Here each directory is made at most twice: once, and once more after its parent was made. An
 * ENOENT after that is final and names the path and the likely cause. Throws the system's error
 * (with its code) otherwise, and ENOTDIR when something that is not a directory is in the way.
 */
export const makeDirectory = (dir: string): void => {
  try {
    mkdirSync(dir);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return existingDirectory(dir);
    if (code !== 'ENOENT') throw error;
  }
  const parent = dirname(dir);
  if (parent === dir) throw Object.assign(new Error(`ENOENT: cannot create ${dir}`), { code: 'ENOENT', path: dir });
  makeDirectory(parent);
  try {
    mkdirSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return existingDirectory(dir); // made by another process meanwhile
    if (code === 'ENOENT') {
      throw Object.assign(
        new Error(`ENOENT: cannot create ${dir}: ${parent} exists but cannot hold directories (a dangling symlink, an unmounted volume or a path under /proc?)`),
        { code: 'ENOENT', path: dir, cause: error },
      );
    }
    throw error;
  }
};

/** `dir` exists: fine if it is a directory (or a symlink to one), an error that says what it is otherwise. */
const existingDirectory = (dir: string): void => {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw Object.assign(new Error(`ENOENT: cannot use ${dir}: it is a symlink to nothing (an unmounted volume?)`), { code: 'ENOENT', path: dir, cause: error });
  }
  if (!isDirectory) throw Object.assign(new Error(`ENOTDIR: cannot use ${dir}: it exists and is not a directory`), { code: 'ENOTDIR', path: dir });
};
