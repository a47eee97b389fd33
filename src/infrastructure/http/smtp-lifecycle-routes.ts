import type { FastifyInstance, FastifyRequest } from 'fastify';
import type {
  GetInstanceSmtpConfigQuery,
  InstanceView,
  Principal,
  RemoveSmtpConfigUseCase,
  SmtpConfigView,
  TestSmtpConfigUseCase,
  TestStoredSmtpConfigUseCase,
  UpdateSmtpConfigPasswordUseCase,
  UpdateSmtpConfigUseCase,
} from '../../application/index.js';
import { takesNoBody } from './json-body.js';
import { protoJsonBody, SmtpProtoJsonMessages } from './protojson-body.js';

export interface SmtpLifecycleRoutesDeps {
  readonly getInstanceSmtpConfig: Pick<GetInstanceSmtpConfigQuery, 'execute'>;
  readonly updateSmtpConfig: Pick<UpdateSmtpConfigUseCase, 'execute'>;
  readonly updateSmtpConfigPassword: Pick<UpdateSmtpConfigPasswordUseCase, 'execute'>;
  readonly removeSmtpConfig: Pick<RemoveSmtpConfigUseCase, 'execute'>;
  readonly testSmtpConfig: Pick<TestSmtpConfigUseCase, 'execute'>;
  readonly testStoredSmtpConfig: Pick<TestStoredSmtpConfigUseCase, 'execute'>;
}

export type ResolveCaller = (request: FastifyRequest) => Promise<{ instance: Pick<InstanceView, 'id'>; principal: Principal }>;

/** The read model's row as the API answers it: `details` and the fields, never a password. */
export const smtpConfigResponse = (v: SmtpConfigView) => ({
  smtpConfig: {
    details: { sequence: v.sequence.toString(), creationDate: v.creationDate, changeDate: v.changeDate, resourceOwner: v.resourceOwner },
    id: v.id,
    senderAddress: v.senderAddress,
    senderName: v.senderName,
    tls: v.tls,
    host: v.host,
    user: v.user,
    replyToAddress: v.replyToAddress,
    description: v.description,
  },
});

type WithId = { Params: { id: string } };

/**
 * The SMTP configuration's life after `POST /admin/v1/smtp`: read the instance's configuration,
 * update it, change its password, remove it and send test mails. Instances, callers, validation
 * and errors go the same way as the add route's (the server's hooks and error handler); bodies are
 * read as protojson reads them (protojson-body.ts), and DELETE's body, if any, is dropped.
 */
export const registerSmtpLifecycleRoutes = (app: FastifyInstance, deps: SmtpLifecycleRoutesDeps, resolveCaller: ResolveCaller): void => {
  app.get('/admin/v1/smtp', async (request) => {
    const { instance, principal } = await resolveCaller(request);
    return smtpConfigResponse(await deps.getInstanceSmtpConfig.execute({ principal, instanceId: instance.id }));
  });

  app.put<WithId>('/admin/v1/smtp/:id', { preValidation: protoJsonBody(SmtpProtoJsonMessages.update) }, async (request) => {
    const { instance, principal } = await resolveCaller(request);
    return deps.updateSmtpConfig.execute({ principal, instanceId: instance.id, id: request.params.id, body: request.body, correlationId: request.id });
  });

  app.put<WithId>('/admin/v1/smtp/:id/password', { preValidation: protoJsonBody(SmtpProtoJsonMessages.password) }, async (request) => {
    const { instance, principal } = await resolveCaller(request);
    return deps.updateSmtpConfigPassword.execute({
      principal,
      instanceId: instance.id,
      id: request.params.id,
      body: request.body,
      correlationId: request.id,
    });
  });

  app.delete<WithId>('/admin/v1/smtp/:id', { onRequest: takesNoBody }, async (request) => {
    const { instance, principal } = await resolveCaller(request);
    return deps.removeSmtpConfig.execute({ principal, instanceId: instance.id, id: request.params.id, correlationId: request.id });
  });

  app.post('/admin/v1/smtp/_test', { preValidation: protoJsonBody(SmtpProtoJsonMessages.test) }, async (request) => {
    const { instance, principal } = await resolveCaller(request);
    return deps.testSmtpConfig.execute({ principal, instanceId: instance.id, body: request.body });
  });

  app.post<WithId>('/admin/v1/smtp/:id/_test', { preValidation: protoJsonBody(SmtpProtoJsonMessages.testById) }, async (request) => {
    const { instance, principal } = await resolveCaller(request);
    return deps.testStoredSmtpConfig.execute({ principal, instanceId: instance.id, id: request.params.id, body: request.body });
  });
};
