// `npm run build`: tsc -p tsconfig.build.json (arguments after `--` go to tsc), then the build stamp
// (scripts/build-stamp.mjs), so that the next `npm start` / `npm run token` / `npm run instance`
// trusts this build instead of building again. A failed build removes the stamp: tsc may have
// written part of dist/, which the next start must not trust. Usage: node scripts/build.mjs [tsc args]
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { removeBuildStamp, writeBuildStamp } from './build-stamp.mjs';

const root = process.cwd();
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const started = new Date();
const run = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', ...process.argv.slice(2)], { stdio: 'inherit' });
if (run.status !== 0) {
  removeBuildStamp(root);
  process.exit(run.status ?? 1);
}
writeBuildStamp(root, started);
