import { z } from 'zod';
import {
  AddSmtpConfigRequestSchema,
  TestSmtpConfigByIdRequestSchema,
  TestSmtpConfigRequestSchema,
  UpdateSmtpConfigPasswordRequestSchema,
  UpdateSmtpConfigRequestSchema,
} from '../../domain/index.js';

const ObjectDetailsSchema = z.object({
  sequence: z.string().meta({ example: '2' }),
  creationDate: z.string().meta({ format: 'date-time', example: '2024-06-11T10:37:15.680Z' }),
  changeDate: z.string().meta({ format: 'date-time', example: '2024-06-11T10:37:15.680Z' }),
  resourceOwner: z.string().meta({ example: '69629023906488334' }),
});

export const AddSmtpConfigResponseSchema = z.object({ details: ObjectDetailsSchema, id: z.string() });

/** The details of a change or a removal: no creation date. */
export const ChangeResponseSchema = z.object({
  details: z.object({ sequence: ObjectDetailsSchema.shape.sequence, changeDate: ObjectDetailsSchema.shape.changeDate, resourceOwner: ObjectDetailsSchema.shape.resourceOwner }),
});

export const SmtpConfigResponseSchema = z.object({
  smtpConfig: z.object({
    details: ObjectDetailsSchema,
    id: z.string(),
    senderAddress: z.string(),
    senderName: z.string(),
    tls: z.boolean(),
    host: z.string(),
    user: z.string(),
    replyToAddress: z.string(),
    description: z.string(),
  }),
});

export const ErrorBodySchema = z.object({
  code: z.number().int(),
  message: z.string(),
  details: z.array(z.object({ '@type': z.string() }).catchall(z.unknown())),
});

const json = (schema: z.ZodType, io: 'input' | 'output' = 'output') => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return { content: { 'application/json': { schema: rest } } };
};

const errors = {
  '400': { description: 'Invalid argument (code 3).', ...json(ErrorBodySchema) },
  '401': { description: 'Missing or invalid token (code 16).', ...json(ErrorBodySchema) },
  '403': { description: 'Returned when the user does not have permission to access the resource.', ...json(ErrorBodySchema) },
  '404': { description: 'Returned when the resource does not exist.', ...json(ErrorBodySchema) },
  '408': { description: 'The client did not send its request in time (code 4).', ...json(ErrorBodySchema) },
  '414': { description: 'A path parameter is too long (code 3).', ...json(ErrorBodySchema) },
  '415': { description: 'The body is in a charset other than UTF-8, or compressed (Content-Encoding gzip, …) (code 3).', ...json(ErrorBodySchema) },
  '431': { description: 'The request headers are too large (code 3).', ...json(ErrorBodySchema) },
  '503': {
    description: 'The store cannot take the write now, or the server is shutting down (code 14); nothing was saved.',
    ...json(ErrorBodySchema),
  },
  default: { description: 'An unexpected error response.', ...json(ErrorBodySchema) },
};

const idParameter = [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }];
const ok = (schema: z.ZodType) => ({ description: 'A successful response.', ...json(schema) });
const testFailed = {
  description:
    'Invalid request (code 3), or the test mail could not be sent (code 9; the error id names the step: SMTP-TEST-conn1 connection, ' +
    'SMTP-TEST-time1 timeout, SMTP-TEST-tls01 TLS handshake, SMTP-TEST-auth1 authentication, SMTP-TEST-from1 sender refused, ' +
    'SMTP-TEST-rcpt1 recipient refused, SMTP-TEST-othr1 anything else). The message never contains the password.',
  ...json(ErrorBodySchema),
};

/** The OpenAPI document, generated from the same zod schemas that validate requests. */
export const buildOpenApiDocument = () => ({
  openapi: '3.1.0',
  info: { title: 'Admin API: SMTP configuration', version: '1.0.0' },
  components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
  security: [{ bearer: [] }],
  paths: {
    '/admin/v1/smtp': {
      get: {
        operationId: 'GetSMTPConfig',
        summary: 'Get the instance’s SMTP configuration',
        description: 'Needs iam.read (IAM_OWNER, IAM_OWNER_VIEWER). 404 (code 5) when none is set. Never returns the password.',
        responses: { '200': ok(SmtpConfigResponseSchema), ...errors },
      },
      post: {
        operationId: 'AddSMTPConfig',
        summary: 'Add SMTP Configuration',
        description: 'Add a new SMTP configuration if nothing is set yet.',
        requestBody: { required: true, ...json(AddSmtpConfigRequestSchema, 'input') },
        responses: {
          '200': { description: 'A successful response.', ...json(AddSmtpConfigResponseSchema) },
          '409': { description: 'An SMTP configuration is already set (code 6).', ...json(ErrorBodySchema) },
          ...errors,
        },
      },
    },
    '/admin/v1/smtp/{id}': {
      get: {
        operationId: 'GetSMTPConfigById',
        summary: 'Get SMTP Configuration by id',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'A successful response.', ...json(SmtpConfigResponseSchema) }, ...errors },
      },
      put: {
        operationId: 'UpdateSMTPConfig',
        summary: 'Update SMTP Configuration',
        description:
          'The add request’s fields and limits; an absent or empty password keeps the stored one. Stores only the fields that changed ' +
          '(instance.smtp.config.changed); a request that changes nothing is refused with code 9 (COMMAND-SMTP-nc9q).',
        parameters: idParameter,
        requestBody: { required: true, ...json(UpdateSmtpConfigRequestSchema, 'input') },
        responses: {
          '200': ok(ChangeResponseSchema),
          ...errors,
          '400': { description: 'Invalid argument (code 3), or nothing would change (code 9).', ...json(ErrorBodySchema) },
        },
      },
      delete: {
        operationId: 'RemoveSMTPConfig',
        summary: 'Remove SMTP Configuration',
        description: 'Emits instance.smtp.config.removed; afterwards a new configuration can be added.',
        parameters: idParameter,
        responses: { '200': ok(ChangeResponseSchema), ...errors },
      },
    },
    '/admin/v1/smtp/{id}/password': {
      put: {
        operationId: 'UpdateSMTPConfigPassword',
        summary: 'Update SMTP Password',
        description: 'Sets a new password, stored encrypted (instance.smtp.config.password.changed).',
        parameters: idParameter,
        requestBody: { required: true, ...json(UpdateSmtpConfigPasswordRequestSchema, 'input') },
        responses: { '200': ok(ChangeResponseSchema), ...errors },
      },
    },
    '/admin/v1/smtp/_test': {
      post: {
        operationId: 'TestSMTPConfig',
        summary: 'Test SMTP Configuration',
        description: 'Sends a test mail to receiverAddress with the given configuration; stores nothing. Needs iam.write.',
        requestBody: { required: true, ...json(TestSmtpConfigRequestSchema, 'input') },
        responses: { '200': ok(z.object({})), ...errors, '400': testFailed },
      },
    },
    '/admin/v1/smtp/{id}/_test': {
      post: {
        operationId: 'TestSMTPConfigById',
        summary: 'Test the stored SMTP Configuration',
        description: 'Sends a test mail to receiverAddress with the stored configuration and its password (decrypted in memory only).',
        parameters: idParameter,
        requestBody: { required: true, ...json(TestSmtpConfigByIdRequestSchema, 'input') },
        responses: { '200': ok(z.object({})), ...errors, '400': testFailed },
      },
    },
  },
});
