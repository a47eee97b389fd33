// `npm pack` / `npm publish` (prepack): build dist/ from scratch, so that the tarball never carries
// files of sources that were renamed or deleted since the last build, and without source maps: the
// package ships no maps (nor the sources they point at), so a `sourceMappingURL` comment in its files
// would only send a user's bundler or test runner (Vite, vitest inlining it) after files that are not
// there. Usage: node scripts/clean-build.mjs
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
const npm = process.env.npm_execpath
  ? spawnSync(process.execPath, [process.env.npm_execpath, 'run', 'build', '--silent', '--', '--sourceMap', 'false'], { stdio: 'inherit' })
  : spawnSync('npm', ['run', 'build', '--silent', '--', '--sourceMap', 'false'], { stdio: 'inherit' });
process.exit(npm.status ?? 1);
