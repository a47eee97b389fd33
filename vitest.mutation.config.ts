import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The vitest run that `npm run test:mutation` (Stryker) uses: the domain and application specs on
 * the in-memory adapters only. The EventStoreDB (in-process gRPC), file-store, HTTP and CLI suites
 * test the infrastructure, which Stryker does not mutate, and would make every mutant cost seconds.
 */
export default defineConfig({
  resolve: {
    alias: [
      {
        // The application specs run once per store adapter; here only on the in-memory one.
        find: /^\.\.\/support\/adapters\.js$/,
        replacement: fileURLToPath(new URL('./test/support/in-memory-adapters.ts', import.meta.url)),
      },
    ],
  },
  test: {
    include: ['test/domain/**/*.spec.ts', 'test/application/**/*.spec.ts'],
    // Spawns fresh Node processes to watch what each entry point loads: about 17 s per mutant, and
    // it checks module boundaries, which no mutant of the code changes.
    exclude: ['test/domain/module-loading.spec.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    maxWorkers: 2,
  },
});
