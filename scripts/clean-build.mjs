// `npm pack` / `npm publish` (prepack): build dist/ from scratch, so that the tarball never carries
// files of sources that were renamed or deleted since the last build. Usage: node scripts/clean-build.mjs
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
const npm = process.env.npm_execpath
  ? spawnSync(process.execPath, [process.env.npm_execpath, 'run', 'build', '--silent'], { stdio: 'inherit' })
  : spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
process.exit(npm.status ?? 1);
