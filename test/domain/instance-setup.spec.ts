import { AssertionError } from 'node:assert';
import { describe, expect, it } from 'vitest';
import { DeciderSpecification } from '../../src/domain/testing.js';
import {
  fold,
  Instance,
  INSTANCE_STREAM_PREFIX,
  instanceStreamId,
  isInstanceEventType,
  type Decider,
  type InstanceEvent,
  type SetUpInstance,
} from '../../src/domain/index.js';

const spec = DeciderSpecification.for(Instance);
const now = new Date('2024-06-11T10:37:15.680Z');
const setUp = (name: string, domains: string[]): SetUpInstance => ({ type: 'SetUpInstance', instanceId: '1', name, domains, now });
const instanceAdded: InstanceEvent = { type: 'instance.added', data: { name: 'acme' } };

describe('Instance aggregate: SetUpInstance', () => {
  it('refuses a blank name with INST-VAL-8fk2', () => {
    const error = spec.given([]).when(setUp('  ', ['acme.example.com'])).thenThrows('InvalidArgument', 'INST-VAL-8fk2');
    expect(error.violations).toEqual([{ field: 'name', description: 'must not be empty' }]);
  });

  it.each([
    ['a NUL character', 'Ac\u0000me', 'must not contain the NUL character (U+0000)'],
    ['a lone surrogate', 'Acme \ud800', 'must be well-formed Unicode (it has a lone UTF-16 surrogate)'],
  ])('refuses a name with %s, saying why', (_what, name, description) => {
    const error = spec.given([]).when(setUp(name, ['acme.example.com'])).thenThrows('InvalidArgument', 'INST-VAL-8fk2');
    expect(error.violations).toEqual([{ field: 'name', description }]);
  });

  it('refuses an instance without domains', () => {
    const error = spec.given([]).when(setUp('acme', [])).thenThrows('InvalidArgument', 'INST-VAL-8fk2');
    expect(error.violations).toEqual([{ field: 'domains', description: 'must name at least one domain' }]);
  });

  it('reports a blank name and missing domains together', () => {
    const error = spec.given([]).when(setUp('', [])).thenThrows('InvalidArgument', 'INST-VAL-8fk2');
    expect(error.violations.map((v) => v.field)).toEqual(['name', 'domains']);
    expect(error.message).toBe('invalid instance setup: name: must not be empty; domains: must name at least one domain');
  });

  it('keeps the name as given and marks only the first domain as generated', () => {
    spec
      .given([])
      .when(setUp(' Acme ', ['A.example.com', 'b.example.com']))
      .then([
        { type: 'instance.added', data: { name: ' Acme ' } },
        { type: 'instance.domain.added', data: { domain: 'a.example.com', generated: true } },
        { type: 'instance.domain.added', data: { domain: 'b.example.com', generated: false } },
      ]);
  });

  it('refuses to set up an existing instance again with COMMAND-Lsq2e, before validating', () => {
    spec.given([instanceAdded]).when(setUp('', [])).thenThrows('AlreadyExists', 'COMMAND-Lsq2e');
  });
});

describe('Instance aggregate: state', () => {
  it('starts empty and folds instances, domains and the configuration', () => {
    expect(Instance.initialState()).toStrictEqual({ exists: false, domains: [], smtpConfig: undefined });
    const state = fold(Instance, [
      instanceAdded,
      { type: 'instance.domain.added', data: { domain: 'a.example.com', generated: true } },
      { type: 'instance.domain.added', data: { domain: 'b.example.com', generated: false } },
      {
        type: 'instance.smtp.config.added',
        data: { id: '42', senderAddress: 'a@b.io', senderName: 'n', tls: false, host: 'h:25', user: '', replyToAddress: '', description: '' },
      },
    ]);
    expect(state).toStrictEqual({
      exists: true,
      domains: ['a.example.com', 'b.example.com'],
      smtpConfig: { id: '42', senderAddress: 'a@b.io', senderName: 'n', tls: false, host: 'h:25', user: '', password: undefined, replyToAddress: '', description: '' },
    });
  });

  it('recognises its own event types and nothing else', () => {
    for (const type of ['instance.added', 'instance.domain.added', 'instance.smtp.config.added']) expect(isInstanceEventType(type)).toBe(true);
    for (const type of ['instance.removed', 'org.added', '', 'InstanceAdded']) expect(isInstanceEventType(type)).toBe(false);
  });

  it('names one stream per instance, under the prefix the projection follows', () => {
    expect(instanceStreamId('69629023906488334')).toBe('instance-69629023906488334');
    expect(INSTANCE_STREAM_PREFIX).toBe('instance-');
    expect(instanceStreamId('x').startsWith(INSTANCE_STREAM_PREFIX)).toBe(true);
  });
});

describe('DeciderSpecification kit', () => {
  it('fails when the error has another kind or id than expected', () => {
    expect(() => spec.given([]).when(setUp('', [])).thenThrows('AlreadyExists')).toThrow(AssertionError);
    expect(() => spec.given([]).when(setUp('', [])).thenThrows('InvalidArgument', 'COMMAND-Lsq2e')).toThrow(AssertionError);
  });

  it('ignores the id when none is expected', () => {
    expect(spec.given([]).when(setUp('', [])).thenThrows('InvalidArgument').id).toBe('INST-VAL-8fk2');
  });

  it('passes on errors that are not domain errors', () => {
    const broken: Decider<string, never, number> = {
      decide: () => {
        throw new RangeError('bug in the decider');
      },
      evolve: (s) => s,
      initialState: () => 0,
    };
    expect(() => DeciderSpecification.for(broken).given([]).when('x').thenThrows('Internal')).toThrow(RangeError);
  });

  it('folds the given events in order before deciding', () => {
    const seen: number[][] = [];
    const counter: Decider<'check', number, number[]> = {
      decide: (_c, s) => {
        seen.push(s);
        return [];
      },
      evolve: (s, e) => [...s, e],
      initialState: () => [],
    };
    DeciderSpecification.for(counter).given([3, 1, 2]).when('check').then([]);
    expect(seen).toEqual([[3, 1, 2]]);
  });
});
