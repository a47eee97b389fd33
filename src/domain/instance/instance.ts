import type { Decider } from '../decider.js';
import { Errors } from '../errors.js';
import type { AddSmtpConfig, ChangeSmtpConfig, ChangeSmtpConfigPassword, InstanceCommand, RemoveSmtpConfig, SetUpInstance } from './commands.js';
import type { EncryptedSecret } from './encrypted-secret.js';
import { isHostName, isWellFormedUnicode } from './smtp-config.js';
import {
  InstanceEventTypes,
  type InstanceEvent,
  type SMTPConfigAdded,
  type SMTPConfigChanged,
  type SMTPConfigChangedData,
  type SMTPConfigPasswordChanged,
  type SMTPConfigRemoved,
} from './events.js';

/** One stream per instance. */
export const instanceStreamId = (instanceId: string): string => `instance-${instanceId}`;
export const INSTANCE_STREAM_PREFIX = 'instance-';

/** A host name (or an IPv4 address) of at most 253 characters: what a Host header can carry. */
export const isDomainName = (domain: string): boolean => domain.length <= 253 && isHostName(domain) && !domain.endsWith('.');

/** Domains as an instance keeps them: lower case, each once, in the order given. */
export const normalizeDomains = (domains: readonly string[]): string[] => [...new Set(domains.map((d) => d.toLowerCase()))];

/**
 * The SMTP configuration as the write side folds it: what an update compares against, and what a
 * sender needs (the password stays encrypted here; only the application decrypts it, in memory).
 */
export interface SmtpConfigState {
  readonly id: string;
  readonly senderAddress: string;
  readonly senderName: string;
  readonly tls: boolean;
  readonly host: string;
  readonly user: string;
  readonly password: EncryptedSecret | undefined;
  readonly replyToAddress: string;
  readonly description: string;
}

/** The narrow write model: only what the invariants need. */
export interface InstanceState {
  readonly exists: boolean;
  readonly domains: readonly string[];
  /** The current configuration, undefined before the first add and after a removal. */
  readonly smtpConfig: SmtpConfigState | undefined;
}

export const initialInstanceState = (): InstanceState => ({ exists: false, domains: [], smtpConfig: undefined });

/** The fields an update compares, in the order the changed event lists them. */
const CHANGEABLE_FIELDS = ['senderAddress', 'senderName', 'tls', 'host', 'user', 'replyToAddress', 'description'] as const;

export const evolveInstance = (state: InstanceState, event: InstanceEvent): InstanceState => {
  switch (event.type) {
    case InstanceEventTypes.InstanceAdded:
      return { ...state, exists: true };
    case InstanceEventTypes.InstanceDomainAdded:
      return { ...state, domains: [...state.domains, event.data.domain] };
    case InstanceEventTypes.SMTPConfigAdded: {
      const { password, ...rest } = event.data;
      return { ...state, smtpConfig: { ...rest, password } };
    }
    case InstanceEventTypes.SMTPConfigChanged: {
      if (state.smtpConfig?.id !== event.data.id) return state;
      const { id: _id, ...changes } = event.data;
      return { ...state, smtpConfig: { ...state.smtpConfig, ...changes } };
    }
    case InstanceEventTypes.SMTPConfigPasswordChanged:
      if (state.smtpConfig?.id !== event.data.id) return state;
      return { ...state, smtpConfig: { ...state.smtpConfig, password: event.data.password } };
    case InstanceEventTypes.SMTPConfigRemoved:
      if (state.smtpConfig?.id !== event.data.id) return state;
      return { ...state, smtpConfig: undefined };
  }
};

const setUp = (command: SetUpInstance, state: InstanceState): InstanceEvent[] => {
  if (state.exists) throw Errors.instanceAlreadyExists();
  const violations = [];
  if (command.name.trim() === '') violations.push({ field: 'name', description: 'must not be empty' });
  // As in the SMTP fields: a lone surrogate would come back as U+FFFD, and no store's text holds NUL.
  else if (!isWellFormedUnicode(command.name)) violations.push({ field: 'name', description: 'must be well-formed Unicode (it has a lone UTF-16 surrogate)' });
  else if (command.name.includes('\u0000')) violations.push({ field: 'name', description: 'must not contain the NUL character (U+0000)' });
  if (command.domains.length === 0) violations.push({ field: 'domains', description: 'must name at least one domain' });
  for (const domain of command.domains) {
    if (!isDomainName(domain)) violations.push({ field: 'domains', description: `${JSON.stringify(domain)} is not a domain name` });
  }
  const domains = normalizeDomains(command.domains);
  if (violations.length > 0) throw Errors.invalidInstanceSetup(violations);
  return [
    { type: InstanceEventTypes.InstanceAdded, data: { name: command.name } },
    ...domains.map((domain, i) => ({ type: InstanceEventTypes.InstanceDomainAdded, data: { domain, generated: i === 0 } })),
  ];
};

const addSmtpConfig = (command: AddSmtpConfig, state: InstanceState): SMTPConfigAdded[] => {
  if (!state.exists) throw Errors.instanceNotFound();
  if (state.smtpConfig !== undefined) throw Errors.smtpConfigAlreadyExists();
  const { senderAddress, senderName, tls, host, user, replyToAddress, description } = command.config;
  return [
    {
      type: InstanceEventTypes.SMTPConfigAdded,
      data: {
        id: command.configId,
        senderAddress,
        senderName,
        tls,
        host,
        user,
        ...(command.password ? { password: command.password } : {}),
        replyToAddress,
        description,
      },
    },
  ];
};

/** The configuration the command names; another id (an old one, another instance's) is not found. */
const currentSmtpConfig = (state: InstanceState, configId: string): SmtpConfigState => {
  if (!state.exists) throw Errors.instanceNotFound();
  if (state.smtpConfig === undefined || state.smtpConfig.id !== configId) throw Errors.smtpConfigNotFound();
  return state.smtpConfig;
};

const changeSmtpConfig = (command: ChangeSmtpConfig, state: InstanceState): SMTPConfigChanged[] => {
  const current = currentSmtpConfig(state, command.configId);
  const changes: Record<string, unknown> = {};
  for (const field of CHANGEABLE_FIELDS) {
    if (command.config[field] !== current[field]) changes[field] = command.config[field];
  }
  // A new password always counts as a change: the stored one is encrypted (with a fresh nonce), so
  // the domain cannot and need not compare them.
  if (command.password) changes.password = command.password;
  if (Object.keys(changes).length === 0) throw Errors.smtpConfigNotChanged();
  return [{ type: InstanceEventTypes.SMTPConfigChanged, data: { id: current.id, ...changes } as SMTPConfigChangedData }];
};

const changeSmtpConfigPassword = (command: ChangeSmtpConfigPassword, state: InstanceState): SMTPConfigPasswordChanged[] => {
  const current = currentSmtpConfig(state, command.configId);
  return [{ type: InstanceEventTypes.SMTPConfigPasswordChanged, data: { id: current.id, password: command.password } }];
};

const removeSmtpConfig = (command: RemoveSmtpConfig, state: InstanceState): SMTPConfigRemoved[] => {
  const current = currentSmtpConfig(state, command.configId);
  return [{ type: InstanceEventTypes.SMTPConfigRemoved, data: { id: current.id } }];
};

export const decideInstance = (command: InstanceCommand, state: InstanceState): InstanceEvent[] => {
  switch (command.type) {
    case 'SetUpInstance':
      return setUp(command, state);
    case 'AddSmtpConfig':
      return addSmtpConfig(command, state);
    case 'ChangeSmtpConfig':
      return changeSmtpConfig(command, state);
    case 'ChangeSmtpConfigPassword':
      return changeSmtpConfigPassword(command, state);
    case 'RemoveSmtpConfig':
      return removeSmtpConfig(command, state);
  }
};

/** The Instance aggregate as a decider. */
export const Instance: Decider<InstanceCommand, InstanceEvent, InstanceState> = {
  decide: decideInstance,
  evolve: evolveInstance,
  initialState: initialInstanceState,
};
