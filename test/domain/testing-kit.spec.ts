import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { AssertionError } from 'node:assert';
import { describe, expect, it } from 'vitest';
import { DomainError, Instance, isSmtpConfigAlreadyExists, isInstanceNotFound } from '../../src/domain/index.js';
import { DeciderSpecification, smtp, SMTP_DEFAULTS } from '../../src/domain/testing.js';

const spec = DeciderSpecification.for(Instance);
const fails = (assertion: () => unknown): AssertionError => {
  try {
    assertion();
  } catch (error) {
    expect(error).toBeInstanceOf(AssertionError);
    return error as AssertionError;
  }
  throw new Error('the assertion passed, but it should have failed');
};

describe('the testing kit: builders', () => {
  it('make a command and the event it leads to agree, with the API example as defaults and no plain password', () => {
    const command = smtp.addSmtpConfig();
    expect(command.config.host).toBe(SMTP_DEFAULTS.request.host);
    expect(command.password).toEqual(smtp.encryptedSecret());
    expect(smtp.smtpConfigAdded().data).toMatchObject({ id: command.configId, host: command.config.host, password: smtp.encryptedSecret() });
    expect(JSON.stringify([command, smtp.smtpConfigAdded()])).not.toContain(SMTP_DEFAULTS.request.password);
  });

  it('validate request overrides, so an invalid configuration cannot be built', () => {
    expect(() => smtp.addSmtpConfigFrom({ host: 'smtp.example.com' })).toThrow(DomainError);
    expect(smtp.addSmtpConfigFrom({ host: 'mail.example.com:25', password: '' })).toMatchObject({ config: { host: 'mail.example.com:25' }, password: undefined });
  });
});

describe('the testing kit: given/when/then', () => {
  it('takes one event or a list in given, and one event or a list in then', () => {
    spec.given(smtp.instanceSetUp()).when(smtp.addSmtpConfig()).then(smtp.smtpConfigAdded());
    spec.given(smtp.instanceAdded()).when(smtp.addSmtpConfig()).then([smtp.smtpConfigAdded()]);
    fails(() => spec.given(smtp.instanceAdded()).when(smtp.addSmtpConfig()).then(smtp.smtpConfigAdded({ host: 'other.example.com:25' })));
  });

  it('checks then with a predicate, which fails the spec by returning false', () => {
    const produced = spec.given(smtp.instanceAdded()).when(smtp.addSmtpConfig({ configId: '42' })).then((events) => events.length === 1 && events[0]!.type === 'instance.smtp.config.added');
    expect(produced).toHaveLength(1);
    const failure = fails(() => spec.given(smtp.instanceAdded()).when(smtp.addSmtpConfig()).then((events) => events.length === 2));
    expect(failure.message).toContain('predicate');
  });

  it('thenNothingHappened passes on no events only', () => {
    const noop = { decide: () => [], evolve: (s: number) => s, initialState: () => 0 };
    DeciderSpecification.for(noop).given([]).when('anything').thenNothingHappened();
    fails(() => spec.given(smtp.instanceAdded()).when(smtp.addSmtpConfig()).thenNothingHappened());
  });

  it('thenThrows takes a kind and id, an error class, or a predicate, and fails when nothing is thrown', () => {
    const given = spec.given(smtp.instanceSetUp().concat(smtp.smtpConfigAdded()));
    expect(given.when(smtp.addSmtpConfig()).thenThrows('AlreadyExists', 'COMMAND-en9lw').id).toBe('COMMAND-en9lw');
    expect(given.when(smtp.addSmtpConfig()).thenThrows(DomainError).kind).toBe('AlreadyExists');
    given.when(smtp.addSmtpConfig()).thenThrows(isSmtpConfigAlreadyExists);
    fails(() => given.when(smtp.addSmtpConfig()).thenThrows(isInstanceNotFound));
    fails(() => given.when(smtp.addSmtpConfig()).thenThrows(RangeError));
    fails(() => given.when(smtp.addSmtpConfig()).thenThrows('NotFound'));
    const nothing = fails(() => spec.given(smtp.instanceAdded()).when(smtp.addSmtpConfig()).thenThrows(DomainError));
    expect(nothing.message).toContain('expected a DomainError, but the decider produced');
  });

  it('runs validation cases through the same given/when/then, naming the fields', () => {
    const given = spec.given(smtp.instanceSetUp());
    given.when(() => smtp.addSmtpConfigFrom({ host: 'smtp.example.com' })).thenViolates('host');
    given.when(() => smtp.addSmtpConfigFrom({ senderAddress: '', senderName: '' })).thenViolates('senderAddress', 'senderName');
    fails(() => given.when(() => smtp.addSmtpConfigFrom({ senderName: '' })).thenViolates('host'));
  });
});

describe('the testing kit under node:test', () => {
  it('passes its passing specs and reports its failing one', () => {
    const file = resolve(import.meta.dirname, 'testing-kit.node-test.ts');
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', file], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stdout).toMatch(/# pass 3\b/);
    expect(run.stdout).toMatch(/# fail 1\b/);
    expect(run.stdout).toContain('not ok 4 - a wrong expectation fails under node:test');
    expect(run.status).toBe(1);
  });
});
