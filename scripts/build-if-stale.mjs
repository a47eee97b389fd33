// `npm start`, `npm run token`, `npm run instance`: build only when a source is newer than the last
// build. The stamp (dist/.build-stamp, scripts/build-stamp.mjs) gets the time the last successful
// build started, so a file saved during a build makes the next start build again; `npm run build`
// (scripts/build.mjs) writes it too. Usage: node scripts/build-if-stale.mjs
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { stampPath, writeBuildStamp } from './build-stamp.mjs';

const root = process.cwd();
const stamp = stampPath(root);
const inputs = ['src', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];

const newestMtime = (path) => {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs; // a deleted or renamed file changes its directory
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
};

const built = existsSync(stamp) ? statSync(stamp).mtimeMs : -1;
const newest = Math.max(...inputs.map((p) => newestMtime(join(root, p))));
if (built >= newest) process.exit(0);

const started = new Date();
const npm = process.env.npm_execpath
  ? spawnSync(process.execPath, [process.env.npm_execpath, 'run', 'build', '--silent'], { stdio: 'inherit' })
  : spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
if (npm.status !== 0) process.exit(npm.status ?? 1);
// (Also for a build script that writes no stamp itself; this one's start is the earlier of the two.)
writeBuildStamp(root, started);
