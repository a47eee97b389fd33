// The build stamp (dist/.build-stamp) that scripts/build-if-stale.mjs compares the sources with: its
// time is when the last successful build started, so a file saved during a build is newer than it.
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const stampPath = (root) => join(root, 'dist', '.build-stamp');

/** Records a successful build that started at `started`. */
export const writeBuildStamp = (root, started) => {
  mkdirSync(join(root, 'dist'), { recursive: true });
  const stamp = stampPath(root);
  writeFileSync(stamp, `${started.toISOString()}\n`);
  utimesSync(stamp, started, started);
};

/** Forgets the last build: a failed build may have left dist/ half written. */
export const removeBuildStamp = (root) => rmSync(stampPath(root), { force: true });
