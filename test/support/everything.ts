/**
 * The whole of src for the repository's own tests: the package root (domain and application) and
 * every adapter. Consumers import per entry point instead (see package.json `exports`).
 */
export * from '../../src/index.js';
export * from '../../src/infrastructure/index.js';
