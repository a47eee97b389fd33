import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AddSmtpConfigUseCase, DomainError, ErrorKind, RoleBasedPermissionChecker } from '../../src/index.js';
import { createHarness, owner, seedRequest, SequentialIds, type Harness } from '../support/fixtures.js';

describe('AddSmtpConfig when the read model lags', () => {
  let h: Harness;
  beforeEach(() => {
    h = createHarness();
  });
  afterEach(() => h.close());

  it('still answers 200 for a stored configuration, with exactly the details the projection then shows', async () => {
    const instanceId = await h.newInstance('acme');
    const lagging: unknown[] = [];
    const stalled = new AddSmtpConfigUseCase({
      events: h.events,
      queries: h.readModel,
      projection: { waitFor: () => Promise.reject(new DomainError(ErrorKind.Unavailable, 'PROJ-wait-7t2k', 'Errors.Projection.Timeout')) },
      clock: h.clock,
      ids: new SequentialIds(1000n),
      encryptor: h.encryptor,
      permissions: new RoleBasedPermissionChecker(),
      onReadModelLag: (e) => lagging.push(e),
    });
    const answer = await stalled.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    expect(lagging).toHaveLength(1);
    expect(answer.id).toBe('1000');

    const head = (await h.events.headPosition())!;
    await h.runner.waitFor(head, 5_000);
    const view = (await h.readModel.smtpConfigById(instanceId, answer.id))!;
    expect(answer).toEqual({
      details: { sequence: view.sequence.toString(), creationDate: view.creationDate, changeDate: view.changeDate, resourceOwner: view.resourceOwner },
      id: view.id,
    });
    expect(answer.details.sequence).toBe('3');
  });

  it('with answerFrom "append", answers from the appended event without waiting for the read model it was given', async () => {
    const instanceId = await h.newInstance('acme');
    const asked: string[] = [];
    const lagging: unknown[] = [];
    const appendOnly = new AddSmtpConfigUseCase({
      events: h.events,
      queries: h.readModel,
      projection: {
        hasProcessed: () => {
          asked.push('hasProcessed');
          return false;
        },
        waitFor: () => {
          asked.push('waitFor');
          return Promise.reject(new DomainError(ErrorKind.Unavailable, 'PROJ-wait-7t2k', 'Errors.Projection.Timeout'));
        },
      },
      clock: h.clock,
      ids: new SequentialIds(2000n),
      encryptor: h.encryptor,
      permissions: new RoleBasedPermissionChecker(),
      onReadModelLag: (e) => lagging.push(e),
      answerFrom: 'append',
    });
    const answer = await appendOnly.execute({ principal: owner(instanceId), instanceId, body: seedRequest });
    expect(asked).toEqual([]);
    expect(lagging).toEqual([]);

    const head = (await h.events.headPosition())!;
    await h.runner.waitFor(head, 5_000);
    const view = (await h.readModel.smtpConfigById(instanceId, answer.id))!;
    expect(answer).toEqual({
      details: { sequence: view.sequence.toString(), creationDate: view.creationDate, changeDate: view.changeDate, resourceOwner: instanceId },
      id: '2000',
    });
  });
});
