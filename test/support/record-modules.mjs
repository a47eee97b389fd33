// `node --import ./record-modules.mjs …`: writes every module URL the ESM loader resolves to stderr
// (as "module: <url>"), and at exit every CommonJS file in require's cache, so a test can see what an
// import loads. Used by test/domain/module-loading.spec.ts.
import { createRequire, register } from 'node:module';
import { writeSync } from 'node:fs';

register(
  `data:text/javascript,${encodeURIComponent(`
    import { writeSync } from 'node:fs';
    export async function resolve(specifier, context, next) {
      const resolved = await next(specifier, context);
      writeSync(2, 'module: ' + resolved.url + '\\n');
      return resolved;
    }
  `)}`,
);
const require = createRequire(import.meta.url);
process.on('exit', () => {
  for (const file of Object.keys(require.cache)) writeSync(2, `module: file://${file}\n`);
});
