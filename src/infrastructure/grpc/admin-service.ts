import { create, toJson } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { createContextKey, type ConnectRouter, type HandlerContext } from '@connectrpc/connect';
import { AddSMTPConfigRequestSchema, AddSMTPConfigResponseSchema, AdminService, GetSMTPConfigByIdResponseSchema } from '@zitadel/proto/zitadel/admin_pb.js';
import { ObjectDetailsSchema } from '@zitadel/proto/zitadel/object_pb.js';
import type { AddSmtpConfigUseCase, GetSmtpConfigQuery, InstanceView, ObjectDetails, Principal, SmtpConfigQueries } from '../../application/index.js';
import { domainOfHost } from '../http/server.js';
import { HttpErrors } from '../http/error-body.js';
import type { JwtAuthenticator } from '../http/jwt-authenticator.js';

export interface AdminServiceDeps {
  readonly addSmtpConfig: AddSmtpConfigUseCase;
  readonly getSmtpConfig: GetSmtpConfigQuery;
  readonly queries: SmtpConfigQueries;
  readonly authenticator: JwtAuthenticator;
}

/** The addressed host: HTTP/2's `:authority`, else HTTP/1.1's `Host` (set per request by the adapter). */
export const AUTHORITY = createContextKey<string | undefined>(undefined, { description: 'authority' });
/** The request id, also the commands' correlation id (set per request by the logging interceptor). */
export const REQUEST_ID = createContextKey<string | undefined>(undefined, { description: 'request id' });

const detailsOf = (d: ObjectDetails | { sequence: bigint | string; creationDate: string; changeDate: string; resourceOwner: string }) =>
  create(ObjectDetailsSchema, {
    sequence: BigInt(d.sequence),
    creationDate: timestampFromDate(new Date(d.creationDate)),
    changeDate: timestampFromDate(new Date(d.changeDate)),
    resourceOwner: d.resourceOwner,
  });

/**
 * `zitadel.admin.v1.AdminService`: the methods we have use cases for, on the same use cases as the
 * REST routes. Every other method answers UNIMPLEMENTED (connect does that for the methods left out).
 */
export const adminServiceRoutes = (deps: AdminServiceDeps) => (router: ConnectRouter) => {
  const resolveCaller = async (ctx: HandlerContext): Promise<{ instance: InstanceView; principal: Principal }> => {
    const instance = await deps.queries.instanceByDomain(domainOfHost(ctx.values.get(AUTHORITY)));
    if (!instance) throw HttpErrors.instanceNotFound();
    const principal = await deps.authenticator.authenticate(ctx.requestHeader.get('authorization') ?? undefined, instance.id);
    return { instance, principal };
  };

  router.service(AdminService, {
    async addSMTPConfig(request, ctx) {
      const { instance, principal } = await resolveCaller(ctx);
      // The same body the REST route validates: proto3 has no "absent", so every field is present.
      const body = toJson(AddSMTPConfigRequestSchema, request, { alwaysEmitImplicit: true });
      const requestId = ctx.values.get(REQUEST_ID);
      const added = await deps.addSmtpConfig.execute({ principal, instanceId: instance.id, body, ...(requestId ? { correlationId: requestId } : {}) });
      return create(AddSMTPConfigResponseSchema, { details: detailsOf(added.details), id: added.id });
    },
    async getSMTPConfigById(request, ctx) {
      const { instance, principal } = await resolveCaller(ctx);
      const v = await deps.getSmtpConfig.execute({ principal, instanceId: instance.id, id: request.id });
      return create(GetSMTPConfigByIdResponseSchema, {
        smtpConfig: {
          details: detailsOf(v),
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
    },
  });
};
