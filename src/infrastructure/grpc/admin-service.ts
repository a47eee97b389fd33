import { create, toJson, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createContextKey, type ConnectRouter, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import {
  AddSMTPConfigRequestSchema,
  AddSMTPConfigResponseSchema,
  AdminService,
  GetSMTPConfigByIdResponseSchema,
  GetSMTPConfigResponseSchema,
  RemoveSMTPConfigResponseSchema,
  TestSMTPConfigByIdRequestSchema,
  TestSMTPConfigByIdResponseSchema,
  TestSMTPConfigRequestSchema,
  TestSMTPConfigResponseSchema,
  UpdateSMTPConfigPasswordRequestSchema,
  UpdateSMTPConfigPasswordResponseSchema,
  UpdateSMTPConfigRequestSchema,
  UpdateSMTPConfigResponseSchema,
} from '@zitadel/proto/zitadel/admin_pb.js';
import { ObjectDetailsSchema } from '@zitadel/proto/zitadel/object_pb.js';
import { SMTPConfigSchema } from '@zitadel/proto/zitadel/settings_pb.js';
import type { AddSmtpConfigUseCase, GetSmtpConfigQuery, InstanceView, Principal, SmtpConfigQueries, SmtpConfigView } from '../../application/index.js';
import { domainOfHost } from '../http/smtp-config-plugin.js';
import { HttpErrors } from '../http/error-body.js';
import type { JwtAuthenticator } from '../http/jwt-authenticator.js';
import type { SmtpLifecycleRoutesDeps } from '../http/smtp-lifecycle-routes.js';
import { strictJsonOptions } from './json-decode.js';

export interface AdminServiceDeps {
  readonly addSmtpConfig: AddSmtpConfigUseCase;
  readonly getSmtpConfig: GetSmtpConfigQuery;
  /** The lifecycle use cases the REST routes call; without them their methods answer UNIMPLEMENTED, as REST has no routes. */
  readonly smtpLifecycle?: SmtpLifecycleRoutesDeps;
  readonly queries: SmtpConfigQueries;
  /** Who calls, from the `authorization` header for the addressed instance: JwtAuthenticator, or an embedder's own. */
  readonly authenticator: Pick<JwtAuthenticator, 'authenticate'>;
}

/**
 * The addressed host: HTTP/2's `:authority`, else its or HTTP/1.1's `Host` (undefined when none came),
 * and how many `Host` headers came (set per request by the adapter).
 */
export const AUTHORITY = createContextKey<{ readonly authority: string | undefined; readonly hosts: number }>(
  { authority: undefined, hosts: 0 },
  { description: 'authority' },
);
/** The request id, also the commands' correlation id (set per request by the logging interceptor). */
export const REQUEST_ID = createContextKey<string | undefined>(undefined, { description: 'request id' });

/**
 * ZITADEL's `zitadel.v1.ObjectDetails`: `sequence` as the uint64, dates as Timestamps. A change or a
 * removal has no creation date (ZITADEL leaves it unset there too).
 */
const detailsOf = (d: { sequence: bigint | string; creationDate?: string; changeDate: string; resourceOwner: string }) =>
  create(ObjectDetailsSchema, {
    sequence: BigInt(d.sequence),
    ...(d.creationDate !== undefined ? { creationDate: timestampFromDate(new Date(d.creationDate)) } : {}),
    changeDate: timestampFromDate(new Date(d.changeDate)),
    resourceOwner: d.resourceOwner,
  });

/** `zitadel.settings.v1.SMTPConfig` from the read model's row: field for field, never a password (the row has none). */
const smtpConfigOf = (v: SmtpConfigView) =>
  create(SMTPConfigSchema, {
    details: detailsOf(v),
    id: v.id,
    senderAddress: v.senderAddress,
    senderName: v.senderName,
    tls: v.tls,
    host: v.host,
    user: v.user,
    replyToAddress: v.replyToAddress,
    description: v.description,
  });

/**
 * A request as the JSON body the REST route validates: proto3 has no "absent", so every field is
 * present (an empty password is the REST body's absent or empty one). The use case strips `id`.
 */
const bodyOf = <Desc extends DescMessage>(schema: Desc, request: MessageShape<Desc>) => toJson(schema, request, { alwaysEmitImplicit: true });

/**
 * `zitadel.admin.v1.AdminService`: the methods we have use cases for, on the same use cases as the
 * REST routes. Every other method answers UNIMPLEMENTED (connect does that for the methods left out).
 */
export const adminServiceRoutes = (deps: AdminServiceDeps) => (router: ConnectRouter) => {
  const resolveCaller = async (ctx: HandlerContext): Promise<{ instance: InstanceView; principal: Principal }> => {
    const { authority, hosts } = ctx.values.get(AUTHORITY);
    // As on the REST port: no host, or two, names no instance.
    if (hosts > 1) throw HttpErrors.badRequest('HTTP-HOST', 'more than one Host header');
    if (authority === undefined) throw HttpErrors.badRequest('HTTP-HOST', 'the Host header is missing');
    const instance = await deps.queries.instanceByDomain(domainOfHost(authority));
    if (!instance) throw HttpErrors.instanceNotFound();
    const principal = await deps.authenticator.authenticate(ctx.requestHeader.get('authorization') ?? undefined, instance.id);
    return { instance, principal };
  };
  const correlationOf = (ctx: HandlerContext) => {
    const requestId = ctx.values.get(REQUEST_ID);
    return requestId ? { correlationId: requestId } : {};
  };

  const implemented: Partial<ServiceImpl<typeof AdminService>> = {
    async addSMTPConfig(request, ctx) {
      const { instance, principal } = await resolveCaller(ctx);
      const body = bodyOf(AddSMTPConfigRequestSchema, request);
      const added = await deps.addSmtpConfig.execute({ principal, instanceId: instance.id, body, ...correlationOf(ctx) });
      return create(AddSMTPConfigResponseSchema, { details: detailsOf(added.details), id: added.id });
    },
    async getSMTPConfigById(request, ctx) {
      const { instance, principal } = await resolveCaller(ctx);
      const v = await deps.getSmtpConfig.execute({ principal, instanceId: instance.id, id: request.id });
      return create(GetSMTPConfigByIdResponseSchema, { smtpConfig: smtpConfigOf(v) });
    },
  };

  const lifecycle = deps.smtpLifecycle;
  if (lifecycle) {
    Object.assign(implemented, {
      async getSMTPConfig(_request, ctx) {
        const { instance, principal } = await resolveCaller(ctx);
        const v = await lifecycle.getInstanceSmtpConfig.execute({ principal, instanceId: instance.id });
        return create(GetSMTPConfigResponseSchema, { smtpConfig: smtpConfigOf(v) });
      },
      async updateSMTPConfig(request, ctx) {
        const { instance, principal } = await resolveCaller(ctx);
        const body = bodyOf(UpdateSMTPConfigRequestSchema, request);
        const { details } = await lifecycle.updateSmtpConfig.execute({ principal, instanceId: instance.id, id: request.id, body, ...correlationOf(ctx) });
        return create(UpdateSMTPConfigResponseSchema, { details: detailsOf(details) });
      },
      async updateSMTPConfigPassword(request, ctx) {
        const { instance, principal } = await resolveCaller(ctx);
        const body = bodyOf(UpdateSMTPConfigPasswordRequestSchema, request);
        const { details } = await lifecycle.updateSmtpConfigPassword.execute({
          principal,
          instanceId: instance.id,
          id: request.id,
          body,
          ...correlationOf(ctx),
        });
        return create(UpdateSMTPConfigPasswordResponseSchema, { details: detailsOf(details) });
      },
      async removeSMTPConfig(request, ctx) {
        const { instance, principal } = await resolveCaller(ctx);
        const { details } = await lifecycle.removeSmtpConfig.execute({ principal, instanceId: instance.id, id: request.id, ...correlationOf(ctx) });
        return create(RemoveSMTPConfigResponseSchema, { details: detailsOf(details) });
      },
      async testSMTPConfig(request, ctx) {
        const { instance, principal } = await resolveCaller(ctx);
        await lifecycle.testSmtpConfig.execute({ principal, instanceId: instance.id, body: bodyOf(TestSMTPConfigRequestSchema, request) });
        return create(TestSMTPConfigResponseSchema);
      },
      async testSMTPConfigById(request, ctx) {
        const { instance, principal } = await resolveCaller(ctx);
        const body = bodyOf(TestSMTPConfigByIdRequestSchema, request);
        await lifecycle.testStoredSmtpConfig.execute({ principal, instanceId: instance.id, id: request.id, body });
        return create(TestSMTPConfigByIdResponseSchema);
      },
    } satisfies Partial<ServiceImpl<typeof AdminService>>);
  }

  // Method by method rather than router.service, for each its own JSON decoder (json-decode.ts);
  // the rest answer UNIMPLEMENTED as router.service has them answer.
  for (const method of AdminService.methods) {
    const impl =
      (implemented as Record<string, unknown>)[method.localName] ??
      (() => {
        throw new ConnectError(`${AdminService.typeName}.${method.name} is not implemented`, Code.Unimplemented);
      });
    router.rpc(method, impl as never, { jsonOptions: strictJsonOptions(method.input) });
  }
};
