import { create, createFileRegistry, type DescMessage } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { ErrorDetailSchema } from '@zitadel/proto/zitadel/message_pb.js';
import { DomainError, grpcCodeOf } from '../../domain/index.js';
import { HttpErrors, HttpStatusError } from '../http/error-body.js';

const string = (name: string, number: number, jsonName: string) => ({
  name,
  number,
  jsonName,
  label: FieldDescriptorProto_Label.OPTIONAL,
  type: FieldDescriptorProto_Type.STRING,
});

/**
 * `google.rpc.BadRequest` (google/rpc/error_details.proto), the part we send. @zitadel/proto does
 * not ship googleapis' error details and no npm package publishes them for protobuf-es 2, so the
 * two messages are described here, field for field as upstream numbers them.
 */
export const BadRequestSchema: DescMessage = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: 'google/rpc/error_details.proto',
    package: 'google.rpc',
    syntax: 'proto3',
    messageType: [
      {
        name: 'BadRequest',
        field: [
          {
            name: 'field_violations',
            number: 1,
            jsonName: 'fieldViolations',
            label: FieldDescriptorProto_Label.REPEATED,
            type: FieldDescriptorProto_Type.MESSAGE,
            typeName: '.google.rpc.BadRequest.FieldViolation',
          },
        ],
        nestedType: [{ name: 'FieldViolation', field: [string('field', 1, 'field'), string('description', 2, 'description')] }],
      },
    ],
  }),
  () => undefined,
).getMessage('google.rpc.BadRequest')!;

/**
 * A DomainError as ZITADEL sends it over gRPC: status = its code, message `"<clientMessage> (<id>)"`, and
 * details `zitadel.v1.ErrorDetail {id, message}` plus `google.rpc.BadRequest` for field violations
 * (connect writes them into `grpc-status-details-bin`, or the gRPC-web trailer frame).
 */
export const connectErrorOf = (error: DomainError): ConnectError => {
  const code = (error instanceof HttpStatusError ? error.grpcCodeOverride : undefined) ?? grpcCodeOf[error.kind];
  return new ConnectError(
    `${error.clientMessage} (${error.id})`,
    code as Code,
    undefined,
    [
      { desc: ErrorDetailSchema, value: { id: error.id, message: error.clientMessage } },
      ...(error.clientViolations.length > 0
        ? [{ desc: BadRequestSchema, value: { fieldViolations: error.clientViolations.map((v) => ({ field: v.field, description: v.description })) } }]
        : []),
    ],
    error,
  );
};

/** Anything a handler throws, as the error the client gets; nothing internal leaves. */
export const toConnectError = (error: unknown): { connectError: ConnectError; internal: boolean } => {
  if (error instanceof DomainError) return { connectError: connectErrorOf(error), internal: error.kind === 'Internal' };
  // connect's own refusals (unimplemented, malformed message, unsupported encoding) keep their code.
  if (error instanceof ConnectError && error.code !== Code.Internal && error.code !== Code.Unknown) return { connectError: error, internal: false };
  return { connectError: connectErrorOf(HttpErrors.internal(error)), internal: true };
};
