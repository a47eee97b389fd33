import { deepStrictEqual, fail, ok } from 'node:assert/strict';
import type { Decider } from './decider.js';
import { DomainError, ErrorKind } from './errors.js';
import type { AddSmtpConfig, SetUpInstance } from './instance/commands.js';
import type { EncryptedSecret } from './instance/encrypted-secret.js';
import { InstanceEventTypes, type InstanceEvent, type InstanceAdded, type InstanceDomainAdded, type SMTPConfigAdded, type SMTPConfigAddedData } from './instance/events.js';
import { parseAddSmtpConfigRequest, type AddSmtpConfigRequest } from './instance/smtp-config.js';

/**
 * A given/when/then kit for deciders, after Emmett's DeciderSpecification:
 *
 *   const spec = DeciderSpecification.for(Instance);
 *   spec.given(smtp.instanceSetUp()).when(smtp.addSmtpConfig()).then(smtp.smtpConfigAdded());
 *   spec.given([]).when(smtp.addSmtpConfig()).thenThrows('NotFound', 'COMMAND-3n8fs');
 *   spec.given(smtp.instanceSetUp()).when(() => smtp.addSmtpConfigFrom({ host: 'no-port' })).thenViolates('host');
 *
 * `given` takes one event or a list; `when` a command, or a function that builds one (so that a
 * request refused while it is parsed fails the same way a refused command does). It depends on no
 * test runner: failures are node:assert errors, which vitest, jest and node:test all report.
 */
export const DeciderSpecification = {
  for<C, E, S>(decider: Decider<C, E, S>) {
    return {
      given(events: E | readonly E[]) {
        const history: readonly E[] = Array.isArray(events) ? events : [events as E];
        return {
          when(command: C | (() => C)) {
            const run = (): readonly E[] => {
              let state = decider.initialState();
              for (const event of history) state = decider.evolve(state, event);
              const built = typeof command === 'function' ? (command as () => C)() : command;
              return decider.decide(built, state);
            };
            return new Then<E>(run);
          },
        };
      },
    };
  },
};

type ErrorClass<T extends Error> = abstract new (...args: never[]) => T;
const isErrorClass = (f: unknown): f is ErrorClass<Error> =>
  typeof f === 'function' && (f === Error || (f as { prototype?: unknown }).prototype instanceof Error);

/** The assertions after `when`. */
export class Then<E> {
  constructor(private readonly run: () => readonly E[]) {}

  /**
   * The decider produced exactly these events (one event, or a list), or events the predicate
   * accepts (it returns true, or returns nothing and throws assertion errors of its own).
   */
  then(expected: E | readonly E[] | ((events: readonly E[]) => boolean | void)): readonly E[] {
    const produced = this.run();
    if (typeof expected === 'function') {
      const verdict = (expected as (events: readonly E[]) => boolean | void)(produced);
      ok(verdict !== false, `the produced events did not satisfy the predicate: ${show(produced)}`);
    } else {
      deepStrictEqual(produced, Array.isArray(expected) ? expected : [expected]);
    }
    return produced;
  }

  /** The decider accepted the command and produced no events. */
  thenNothingHappened(): void {
    deepStrictEqual(this.run(), [], 'expected no events');
  }

  /** It threw a DomainError of this kind (and id, when given). */
  thenThrows(kind: ErrorKind, id?: string): DomainError;
  /** It threw an instance of this class. */
  thenThrows<T extends Error>(errorClass: ErrorClass<T>): T;
  /** It threw an error the predicate accepts (a guard such as `isSmtpConfigAlreadyExists`). */
  thenThrows(predicate: (error: unknown) => boolean): unknown;
  thenThrows(expected: ErrorKind | ErrorClass<Error> | ((error: unknown) => boolean), id?: string): unknown {
    let produced: readonly E[];
    try {
      produced = this.run();
    } catch (error) {
      if (typeof expected === 'string') {
        if (!(error instanceof DomainError)) throw error;
        deepStrictEqual({ kind: error.kind, ...(id ? { id: error.id } : {}) }, { kind: expected, ...(id ? { id } : {}) });
      } else if (isErrorClass(expected)) {
        ok(error instanceof expected, `expected a ${expected.name}, got ${describeError(error)}`);
      } else {
        ok(expected(error), `the error did not satisfy the predicate: ${describeError(error)}`);
      }
      return error;
    }
    const wanted = typeof expected === 'string' ? `a ${expected} error` : isErrorClass(expected) ? `a ${expected.name}` : 'an error';
    return fail(`expected ${wanted}, but the decider produced ${show(produced)}`);
  }

  /** It threw InvalidArgument naming exactly these fields (each once per violation, in order). */
  thenViolates(...fields: readonly string[]): DomainError {
    const error = this.thenThrows(ErrorKind.InvalidArgument);
    deepStrictEqual(
      error.violations.map((v) => v.field),
      fields,
    );
    return error;
  }
}

const show = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
const describeError = (error: unknown): string => (error instanceof Error ? `${error.name}: ${error.message}` : show(error));

/** Defaults the builders share, so that a command and the event it leads to match without repeating them. */
export const SMTP_DEFAULTS = Object.freeze({
  instanceId: '69629023906488334',
  configId: '69629026806489455',
  now: new Date('2024-06-11T10:37:15.680Z'),
  request: Object.freeze({
    senderAddress: 'noreply@m.zitadel.cloud',
    senderName: 'ZITADEL',
    tls: true,
    host: 'smtp.postmarkapp.com:587',
    user: '197f0117-529e-443d-bf6c-0292dd9a02b7',
    password: 'this-is-my-password',
    replyToAddress: 'replyto@m.zitadel.cloud',
    description: 'provider description',
  }),
});

type AddSmtpConfigOverrides = Partial<Omit<AddSmtpConfig, 'type' | 'config'>>;

/**
 * Builders for the Instance aggregate's commands and events, with the API document's example as
 * defaults. A command's config is only ever made by parsing a request, so a builder cannot make an
 * invalid configuration look valid: a bad override is refused with InvalidArgument, as in production.
 */
export const smtp = {
  /** A stand-in for an encrypted password (the domain never sees plain text). */
  encryptedSecret: (keyId = 'test-key', crypted = 'bm9uY2VjaXBoZXJ0ZXh0dGFn'): EncryptedSecret => ({ cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId, crypted }),

  /** A valid request body (the API document's example), with overrides. */
  request: (overrides: Partial<AddSmtpConfigRequest> = {}): AddSmtpConfigRequest => ({ ...SMTP_DEFAULTS.request, ...overrides }),

  instanceAdded: (name = 'ZITADEL'): InstanceAdded => ({ type: InstanceEventTypes.InstanceAdded, data: { name } }),
  instanceDomainAdded: (domain = 'acme.example.com', generated = true): InstanceDomainAdded => ({
    type: InstanceEventTypes.InstanceDomainAdded,
    data: { domain, generated },
  }),
  /** The events of a set-up instance: added, with its domains (the first one generated). */
  instanceSetUp: (name = 'ZITADEL', domains: readonly string[] = ['acme.example.com']): InstanceEvent[] => [
    smtp.instanceAdded(name),
    ...domains.map((d, i) => smtp.instanceDomainAdded(d, i === 0)),
  ],
  setUpInstance: (overrides: Partial<Omit<SetUpInstance, 'type'>> = {}): SetUpInstance => ({
    type: 'SetUpInstance',
    instanceId: SMTP_DEFAULTS.instanceId,
    name: 'ZITADEL',
    domains: ['acme.example.com'],
    now: SMTP_DEFAULTS.now,
    ...overrides,
  }),

  /** AddSmtpConfig from request overrides (validated: a bad one throws InvalidArgument) and command overrides. */
  addSmtpConfigFrom: (request: Partial<AddSmtpConfigRequest> | unknown = {}, overrides: AddSmtpConfigOverrides = {}): AddSmtpConfig => {
    const body = typeof request === 'object' && request !== null && !Array.isArray(request) ? { ...SMTP_DEFAULTS.request, ...request } : request;
    const { password, ...config } = parseAddSmtpConfigRequest(body);
    return {
      type: 'AddSmtpConfig',
      instanceId: SMTP_DEFAULTS.instanceId,
      configId: SMTP_DEFAULTS.configId,
      config,
      password: password === '' ? undefined : smtp.encryptedSecret(),
      now: SMTP_DEFAULTS.now,
      ...overrides,
    };
  },
  /** AddSmtpConfig with the defaults and command overrides (id, instance, time, password). */
  addSmtpConfig: (overrides: AddSmtpConfigOverrides = {}): AddSmtpConfig => smtp.addSmtpConfigFrom({}, overrides),

  /** The event the default AddSmtpConfig leads to, with overrides. */
  smtpConfigAdded: (overrides: Partial<SMTPConfigAddedData> = {}): SMTPConfigAdded => {
    const { password: _plain, ...request } = SMTP_DEFAULTS.request;
    return {
      type: InstanceEventTypes.SMTPConfigAdded,
      data: { id: SMTP_DEFAULTS.configId, ...request, password: smtp.encryptedSecret(), ...overrides },
    };
  },
} as const;
