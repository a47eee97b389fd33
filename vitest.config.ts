import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.spec.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Two shared cores: keep the pool small so that timing-sensitive waits (projection catch-up) stay far from their limits.
    maxWorkers: 2,
  },
});
