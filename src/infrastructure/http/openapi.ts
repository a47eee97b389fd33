import { z } from 'zod';
import { AddSmtpConfigRequestSchema } from '../../domain/index.js';

const ObjectDetailsSchema = z.object({
  sequence: z.string().meta({ example: '2' }),
  creationDate: z.string().meta({ format: 'date-time', example: '2024-06-11T10:37:15.680Z' }),
  changeDate: z.string().meta({ format: 'date-time', example: '2024-06-11T10:37:15.680Z' }),
  resourceOwner: z.string().meta({ example: '69629023906488334' }),
});

export const AddSmtpConfigResponseSchema = z.object({ details: ObjectDetailsSchema, id: z.string() });

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
  '415': { description: 'The body is not JSON in UTF-8 (code 3).', ...json(ErrorBodySchema) },
  '431': { description: 'The request headers are too large (code 3).', ...json(ErrorBodySchema) },
  '503': {
    description: 'The store cannot take the write now, or the server is shutting down (code 14); nothing was saved.',
    ...json(ErrorBodySchema),
  },
  default: { description: 'An unexpected error response.', ...json(ErrorBodySchema) },
};

/** The OpenAPI document, generated from the same zod schemas that validate requests. */
export const buildOpenApiDocument = () => ({
  openapi: '3.1.0',
  info: { title: 'Admin API: SMTP configuration', version: '1.0.0' },
  components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
  security: [{ bearer: [] }],
  paths: {
    '/admin/v1/smtp': {
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
    },
  },
});
