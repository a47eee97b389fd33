// The testing kit under node:test (run by testing-kit.spec.ts: node --import tsx --test this file).
// The last test fails on purpose: the kit's failures must reach node:test as failures.
import { test } from 'node:test';
import { Instance, isSmtpConfigAlreadyExists } from '../../src/domain/index.js';
import { DeciderSpecification, smtp } from '../../src/domain/testing.js';

const spec = DeciderSpecification.for(Instance);

test('adds the configuration to a set-up instance', () => {
  spec.given(smtp.instanceSetUp()).when(smtp.addSmtpConfig()).then(smtp.smtpConfigAdded());
});

test('refuses a second configuration', () => {
  spec.given([...smtp.instanceSetUp(), smtp.smtpConfigAdded()]).when(smtp.addSmtpConfig()).thenThrows(isSmtpConfigAlreadyExists);
});

test('refuses a host without a port', () => {
  spec.given(smtp.instanceSetUp()).when(() => smtp.addSmtpConfigFrom({ host: 'smtp.example.com' })).thenViolates('host');
});

test('a wrong expectation fails under node:test', () => {
  spec.given(smtp.instanceSetUp()).when(smtp.addSmtpConfig()).thenNothingHappened();
});
