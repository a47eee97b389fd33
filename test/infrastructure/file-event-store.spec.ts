import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileEventStore, type NewEvent } from '../../src/index.js';

const event = (id: string): NewEvent => ({
  id,
  type: 'test.happened',
  data: { secretFree: true },
  metadata: { instanceId: 'i', editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 },
});

describe('embedded file event store', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'file-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps its events across a restart, with the same revisions and positions', async () => {
    const first = await FileEventStore.open(dir);
    await first.appendToStream('instance-1', [event('00000000-0000-4000-8000-000000000001')], 'no_stream');
    await first.appendToStream('instance-2', [event('00000000-0000-4000-8000-000000000002')], 'no_stream');
    const before = await first.readStream('instance-2');
    await first.close();

    const second = await FileEventStore.open(dir);
    expect(await second.readStream('instance-2')).toEqual(before);
    await second.appendToStream('instance-1', [event('00000000-0000-4000-8000-000000000003')], 0n);
    expect((await second.headPosition())?.commit).toBe(2n);
    await second.close();
  });

  it('cuts off a torn last line left by a crash mid-write', async () => {
    const store = await FileEventStore.open(dir);
    await store.appendToStream('instance-1', [event('00000000-0000-4000-8000-000000000001')], 'no_stream');
    await store.close();
    appendFileSync(join(dir, FileEventStore.FILE), '{"id":"torn');
    const reopened = await FileEventStore.open(dir);
    expect((await reopened.readStream('instance-1')).events).toHaveLength(1);
    await reopened.appendToStream('instance-1', [event('00000000-0000-4000-8000-000000000002')], 0n);
    await reopened.close();
    expect(readFileSync(join(dir, FileEventStore.FILE), 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('refuses a second writer on the same directory, but lets a reader in', async () => {
    const writer = await FileEventStore.open(dir);
    await expect(FileEventStore.open(dir)).rejects.toThrow(/in use by process/);
    const reader = await FileEventStore.open(dir, { readOnly: true });
    await expect(reader.appendToStream('x-1', [event('00000000-0000-4000-8000-000000000009')], 'any')).rejects.toThrow(/read-only/);
    await reader.close();
    await writer.close();
  });
});
