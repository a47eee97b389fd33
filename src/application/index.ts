export * from './ports/index.js';
export * from './command-handler.js';
export * from './permissions.js';
export * from './projection/smtp-config-projection.js';
export * from './projection/projection-runner.js';
export * from './smtp/add-smtp-config.js';
export * from './smtp/get-smtp-config.js';
export * from './instance/set-up-instance.js';
