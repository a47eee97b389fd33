import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DomainError,
  fold,
  Instance,
  type AddSmtpConfig,
  type InstanceCommand,
  type InstanceEvent,
  type InstanceState,
} from '../../src/domain/index.js';

const now = new Date('2024-06-11T10:37:15.680Z');
const config: AddSmtpConfig['config'] = {
  senderAddress: 'noreply@m.zitadel.cloud',
  senderName: 'ZITADEL',
  tls: true,
  host: 'smtp.postmarkapp.com:587',
  user: 'u',
  replyToAddress: '',
  description: '',
} as AddSmtpConfig['config'];

const setUpInstance = fc.record({
  type: fc.constant('SetUpInstance' as const),
  instanceId: fc.string(),
  name: fc.oneof(fc.constant(''), fc.constant(' '), fc.string()),
  domains: fc.array(fc.oneof(fc.domain(), fc.constantFrom('Localhost', 'localhost')), { maxLength: 3 }),
  now: fc.constant(now),
});
const addSmtpConfig = fc.record({
  type: fc.constant('AddSmtpConfig' as const),
  instanceId: fc.string(),
  configId: fc.string(),
  config: fc.constant(config),
  password: fc.constant(undefined),
  now: fc.constant(now),
});
const commands = fc.array(fc.oneof(setUpInstance, addSmtpConfig), { maxLength: 12 });

/** Runs the commands one after another against one stream, the way the command handler does. */
const run = (sequence: readonly InstanceCommand[]) => {
  let state: InstanceState = Instance.initialState();
  const log: InstanceEvent[] = [];
  const outcomes: (readonly InstanceEvent[] | DomainError)[] = [];
  for (const command of sequence) {
    try {
      const events = Instance.decide(command, state);
      for (const event of events) state = Instance.evolve(state, event);
      log.push(...events);
      outcomes.push(events);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      outcomes.push(error);
    }
  }
  return { state, log, outcomes };
};

describe('Instance decider, for any sequence of commands', () => {
  it('sets at most one SMTP configuration, the first one accepted, and only on an existing instance', () => {
    fc.assert(
      fc.property(commands, (sequence) => {
        const { state, log, outcomes } = run(sequence);
        const added = log.filter((e) => e.type === 'instance.smtp.config.added');
        expect(added.length).toBeLessThanOrEqual(1);
        const setUpAt = sequence.findIndex((c, i) => c.type === 'SetUpInstance' && !(outcomes[i] instanceof DomainError));
        sequence.forEach((command, i) => {
          const outcome = outcomes[i]!;
          if (command.type !== 'AddSmtpConfig') return;
          const firstAdd = sequence.findIndex((c, j) => j > setUpAt && c.type === 'AddSmtpConfig');
          if (setUpAt < 0 || i < setUpAt) expect(outcome).toMatchObject({ kind: 'NotFound', id: 'COMMAND-3n8fs' });
          else if (i === firstAdd) expect(outcome).toEqual([{ type: 'instance.smtp.config.added', data: { ...config, id: command.configId } }]);
          else expect(outcome).toMatchObject({ kind: 'AlreadyExists', id: 'COMMAND-en9lw' });
        });
        expect(state.smtpConfig?.id).toBe(added[0]?.data.id);
      }),
    );
  });

  it('sets up the instance at most once', () => {
    fc.assert(
      fc.property(commands, (sequence) => {
        const { log, outcomes } = run(sequence);
        expect(log.filter((e) => e.type === 'instance.added').length).toBeLessThanOrEqual(1);
        const first = sequence.findIndex((c, i) => c.type === 'SetUpInstance' && !(outcomes[i] instanceof DomainError));
        sequence.forEach((command, i) => {
          if (command.type === 'SetUpInstance' && first >= 0 && i > first) {
            expect(outcomes[i]).toMatchObject({ kind: 'AlreadyExists', id: 'COMMAND-Lsq2e' });
          }
        });
      }),
    );
  });

  it('reproduces the decided state by folding the emitted events', () => {
    fc.assert(
      fc.property(commands, (sequence) => {
        const { state, log } = run(sequence);
        expect(fold(Instance, log)).toEqual(state);
        expect(state.exists).toBe(log.some((e) => e.type === 'instance.added'));
        expect(state.domains).toEqual(log.flatMap((e) => (e.type === 'instance.domain.added' ? [e.data.domain] : [])));
      }),
    );
  });
});
