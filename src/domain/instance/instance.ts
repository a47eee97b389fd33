import type { Decider } from '../decider.js';
import { Errors } from '../errors.js';
import type { AddSmtpConfig, InstanceCommand, SetUpInstance } from './commands.js';
import { isHostName } from './smtp-config.js';
import { InstanceEventTypes, type InstanceEvent, type SMTPConfigAdded } from './events.js';

/** One stream per instance. */
export const instanceStreamId = (instanceId: string): string => `instance-${instanceId}`;
export const INSTANCE_STREAM_PREFIX = 'instance-';

/** A host name (or an IPv4 address) of at most 253 characters: what a Host header can carry. */
export const isDomainName = (domain: string): boolean => domain.length <= 253 && isHostName(domain) && !domain.endsWith('.');

/** Domains as an instance keeps them: lower case, each once, in the order given. */
export const normalizeDomains = (domains: readonly string[]): string[] => [...new Set(domains.map((d) => d.toLowerCase()))];

/** The narrow write model: only what the invariants need. */
export interface InstanceState {
  readonly exists: boolean;
  readonly domains: readonly string[];
  readonly smtpConfigId: string | undefined;
}

export const initialInstanceState = (): InstanceState => ({ exists: false, domains: [], smtpConfigId: undefined });

export const evolveInstance = (state: InstanceState, event: InstanceEvent): InstanceState => {
  switch (event.type) {
    case InstanceEventTypes.InstanceAdded:
      return { ...state, exists: true };
    case InstanceEventTypes.InstanceDomainAdded:
      return { ...state, domains: [...state.domains, event.data.domain] };
    case InstanceEventTypes.SMTPConfigAdded:
      return { ...state, smtpConfigId: event.data.id };
  }
};

const setUp = (command: SetUpInstance, state: InstanceState): InstanceEvent[] => {
  if (state.exists) throw Errors.instanceAlreadyExists();
  const violations = [];
  if (command.name.trim() === '') violations.push({ field: 'name', description: 'must not be empty' });
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
  if (state.smtpConfigId !== undefined) throw Errors.smtpConfigAlreadyExists();
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

export const decideInstance = (command: InstanceCommand, state: InstanceState): InstanceEvent[] => {
  switch (command.type) {
    case 'SetUpInstance':
      return setUp(command, state);
    case 'AddSmtpConfig':
      return addSmtpConfig(command, state);
  }
};

/** The Instance aggregate as a decider. */
export const Instance: Decider<InstanceCommand, InstanceEvent, InstanceState> = {
  decide: decideInstance,
  evolve: evolveInstance,
  initialState: initialInstanceState,
};
