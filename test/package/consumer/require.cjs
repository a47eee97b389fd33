// A CommonJS consumer: require(esm) works from Node 20.19 (and 22.12) on.
const domain = require('@iam/smtp-config/domain');
const root = require('@iam/smtp-config');
console.log(JSON.stringify({ domain: typeof domain.parseAddSmtpConfigRequest, root: typeof root.AddSmtpConfigUseCase }));
