import { describe, expect, it } from 'vitest';
import { checkedRecord, decodeRecordedEvent, deepFreeze, InstanceEventTypes, recordMaker, type RecordedEvent, type RecordLocator } from '../support/everything.js';

const at = { commit: 7n, prepare: 7n };
const metadata = { instanceId: 'inst1', editorUserId: 'u', createdAt: '2024-06-11T10:37:15.680Z', correlationId: 'c', causationId: 'c' };

const record = (data: unknown, schemaVersion = 1, extra: Partial<RecordedEvent> = {}): RecordedEvent => ({
  id: '00000000-0000-8000-8000-000000000001',
  streamId: 'instance-inst1',
  revision: 0n,
  position: at,
  type: InstanceEventTypes.InstanceAdded,
  data,
  metadata: { ...metadata, schemaVersion },
  ...extra,
});

const frozenRecord = (data: unknown, schemaVersion = 1, extra: Partial<RecordedEvent> = {}): RecordedEvent =>
  deepFreeze(record(deepFreeze(data), schemaVersion, extra));

describe('decodeRecordedEvent on records that can never change', () => {
  it('hands the stored payload itself back when nothing needed upcasting or stripping, every time', () => {
    const event = frozenRecord({ name: 'acme' });
    const first = decodeRecordedEvent(event);
    const second = decodeRecordedEvent(event);
    expect(first).toEqual({ type: InstanceEventTypes.InstanceAdded, data: { name: 'acme' } });
    expect(first!.data).toBe(event.data);
    expect(second!.data).toBe(event.data);
  });

  it('remembers an upcast payload as a frozen copy, leaving the stored one as it was', () => {
    const stored = { senderAddress: 'a@b.ch', senderName: 'A', tls: true, host: 'smtp.b.ch:465', user: 'u', replyToAddress: '', description: '' };
    const event = frozenRecord(stored, 0, { type: InstanceEventTypes.SMTPConfigAdded });
    const first = decodeRecordedEvent(event);
    const second = decodeRecordedEvent(event);
    expect(first!.data).toEqual({ ...stored, id: 'inst1' });
    expect(second!.data).toBe(first!.data);
    expect(Object.isFrozen(first!.data)).toBe(true);
    expect(event.data).not.toHaveProperty('id');
  });

  it('does not remember a payload that was stripped of unknown fields as the stored one', () => {
    const event = frozenRecord({ name: 'acme', extra: 'dropped' });
    expect(decodeRecordedEvent(event)!.data).toEqual({ name: 'acme' });
    expect(decodeRecordedEvent(event)!.data).toEqual({ name: 'acme' });
  });

  it('refuses a malformed frozen payload on every read, naming its position', () => {
    const event = frozenRecord({ name: 42 });
    for (let i = 0; i < 2; i++) {
      expect(() => decodeRecordedEvent(event)).toThrow(expect.objectContaining({ id: 'EVENT-DEC-7m3q', message: expect.stringContaining('7/7') }));
    }
  });

  it('checks a payload that can still change again on every read', () => {
    const data = { name: 'acme' };
    const event = Object.freeze(record(data));
    expect(decodeRecordedEvent(event)!.data).toEqual({ name: 'acme' });
    (data as { name: unknown }).name = 42;
    expect(() => decodeRecordedEvent(event)).toThrow(expect.objectContaining({ id: 'EVENT-DEC-7m3q' }));
  });

  it('upcasts again a frozen record whose metadata can still change (the instance id it upcasts with)', () => {
    const stored = deepFreeze({ senderAddress: 'a@b.ch', senderName: 'A', tls: true, host: 'smtp.b.ch:465', user: 'u', replyToAddress: '', description: '' });
    const event = Object.freeze(record(stored, 0, { type: InstanceEventTypes.SMTPConfigAdded }));
    expect(decodeRecordedEvent(event)!.data).toMatchObject({ id: 'inst1' });
    (event.metadata as { instanceId: string }).instanceId = 'inst2';
    expect(decodeRecordedEvent(event)!.data).toMatchObject({ id: 'inst2' });
  });

  it('checks again a frozen payload in a record that is not frozen (its type or version may change)', () => {
    const event = record(deepFreeze({ name: 'acme' }));
    expect(decodeRecordedEvent(event)!.type).toBe(InstanceEventTypes.InstanceAdded);
    (event as { type: string }).type = InstanceEventTypes.SMTPConfigRemoved;
    expect(() => decodeRecordedEvent(event)).toThrow(expect.objectContaining({ id: 'EVENT-DEC-7m3q' }));
  });
});

describe('checkedRecord: a record a store keeps, its payload checked once when it is built', () => {
  const fields = (data: unknown, extra: Partial<RecordedEvent> = {}): RecordedEvent => ({
    id: '00000000-0000-8000-8000-000000000002',
    streamId: 'instance-inst1',
    revision: 0n,
    position: Object.freeze({ ...at }),
    type: InstanceEventTypes.InstanceAdded,
    data: deepFreeze(data),
    metadata: Object.freeze({ ...metadata, schemaVersion: 1 }),
    ...extra,
  });

  it('is frozen, shows exactly the fields it was given, and decodes to its own payload', () => {
    const event = checkedRecord(fields({ name: 'acme' }));
    expect(Object.isFrozen(event)).toBe(true);
    expect(Object.keys(event).sort()).toEqual(['data', 'id', 'metadata', 'position', 'revision', 'streamId', 'type']);
    expect({ ...event }).toEqual(fields({ name: 'acme' }));
    const decoded = decodeRecordedEvent(event);
    expect(decoded).toEqual({ type: InstanceEventTypes.InstanceAdded, data: { name: 'acme' } });
    expect(decoded!.data).toBe(event.data);
  });

  it('hands a copy with other data no checked payload: the copy is checked on its own', () => {
    const event = checkedRecord(fields({ name: 'acme' }));
    const copy = { ...event, data: { name: 42 } };
    expect(() => decodeRecordedEvent(copy)).toThrow(expect.objectContaining({ id: 'EVENT-DEC-7m3q' }));
    expect(decodeRecordedEvent(event)!.data).toEqual({ name: 'acme' });
  });

  it('refuses a payload that does not fit on every decode, naming its position', () => {
    const event = checkedRecord(fields({ name: 42 }));
    for (let i = 0; i < 2; i++) {
      expect(() => decodeRecordedEvent(event)).toThrow(expect.objectContaining({ id: 'EVENT-DEC-7m3q', message: expect.stringContaining('7/7') }));
    }
  });

  it('keeps an upcast payload as a frozen copy, and leaves a type without a schema undecoded', () => {
    const stored = { senderAddress: 'a@b.ch', senderName: 'A', tls: true, host: 'smtp.b.ch:465', user: 'u', replyToAddress: '', description: '' };
    const event = checkedRecord(fields(stored, { type: InstanceEventTypes.SMTPConfigAdded, metadata: Object.freeze({ ...metadata, schemaVersion: 0 }) }));
    const decoded = decodeRecordedEvent(event);
    expect(decoded!.data).toEqual({ ...stored, id: 'inst1' });
    expect(Object.isFrozen(decoded!.data)).toBe(true);
    expect(decodeRecordedEvent(event)!.data).toBe(decoded!.data);
    expect(event.data).not.toHaveProperty('id');
    expect(decodeRecordedEvent(checkedRecord(fields({ anything: 1 }, { type: 'some.other.event' })))).toBeUndefined();
  });

  it('checks again on every decode a payload that could still change when the record was built', () => {
    const data = { name: 'acme' };
    const event = checkedRecord({ ...fields({}), data });
    expect(decodeRecordedEvent(event)!.data).toEqual({ name: 'acme' });
    (data as { name: unknown }).name = 42;
    expect(() => decodeRecordedEvent(event)).toThrow(expect.objectContaining({ id: 'EVENT-DEC-7m3q' }));
  });
});

describe('recordMaker: records that find their id and position through their store', () => {
  /** Types the records leave to their store (see RecordLocator.typeAt), by place: set before a record is made, as a store does. */
  const otherTypes = new Map<number, string>();
  const locator = {
    reads: 0,
    typeAt(place: number) {
      this.reads++;
      return otherTypes.get(place)!;
    },
    idAt(place: number) {
      this.reads++;
      return `00000000-0000-8000-8000-${String(place).padStart(12, '0')}`;
    },
    positionAt(place: number) {
      this.reads++;
      return Object.freeze({ commit: BigInt(place), prepare: BigInt(place) });
    },
  };
  const fields = (data: unknown, extra: Partial<RecordedEvent> = {}) => ({
    streamId: 'instance-inst1',
    revision: 0n,
    type: InstanceEventTypes.InstanceAdded,
    data: deepFreeze(data),
    metadata: Object.freeze({ ...metadata, schemaVersion: 1 }),
    ...extra,
  });
  const locatedRecord = recordMaker(locator);

  it('checks its payload once, when it is made: decoding it again and again reads its metadata no more', () => {
    let versionReads = 0;
    const counted = Object.freeze(
      Object.defineProperty({ ...metadata }, 'schemaVersion', {
        enumerable: true,
        get: () => {
          versionReads++;
          return 1;
        },
      }),
    ) as RecordedEvent['metadata'];
    otherTypes.set(11, 'some.other.event');
    for (const [place, extra, decoded] of [
      [10, {}, { name: 'acme' }],
      [11, { type: 'some.other.event' }, undefined],
    ] as const) {
      versionReads = 0;
      const event = locatedRecord(place, fields({ name: 'acme' }, { ...extra, metadata: counted }));
      expect(versionReads).toBe(1);
      for (let i = 0; i < 3; i++) expect(decodeRecordedEvent(event)?.data).toEqual(decoded);
      expect(versionReads).toBe(1);
    }
  });

  it('shows its id and position as own fields, read from its place, in key listings, spreads and JSON', () => {
    const event = locatedRecord(7, fields({ name: 'acme' }));
    expect(Object.isFrozen(event)).toBe(true);
    expect(Object.keys(event).sort()).toEqual(['data', 'id', 'metadata', 'position', 'revision', 'streamId', 'type']);
    expect({ ...event }).toEqual({ ...fields({ name: 'acme' }), id: '00000000-0000-8000-8000-000000000007', position: { commit: 7n, prepare: 7n } });
    expect(JSON.parse(JSON.stringify(event, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))).toMatchObject({
      id: '00000000-0000-8000-8000-000000000007',
      position: { commit: '7', prepare: '7' },
    });
    const before = locator.reads;
    expect(decodeRecordedEvent(event)!.data).toBe(event.data);
    expect(locator.reads).toBe(before);
  });

  it('decodes an upcast payload to the same frozen copy every time, and a type without a schema to nothing', () => {
    const stored = { senderAddress: 'a@b.ch', senderName: 'A', tls: true, host: 'smtp.b.ch:465', user: 'u', replyToAddress: '', description: '' };
    const event = locatedRecord(1, fields(stored, { type: InstanceEventTypes.SMTPConfigAdded, metadata: Object.freeze({ ...metadata, schemaVersion: 0 }) }));
    const decoded = decodeRecordedEvent(event);
    expect(decoded!.data).toEqual({ ...stored, id: 'inst1' });
    expect(Object.isFrozen(decoded!.data)).toBe(true);
    expect(decodeRecordedEvent(event)!.data).toBe(decoded!.data);
    otherTypes.set(2, 'some.other.event');
    expect(decodeRecordedEvent(locatedRecord(2, fields({ anything: 1 }, { type: 'some.other.event' })))).toBeUndefined();
  });

  it("keeps a type the domain knows itself, and asks its store for any other one's", () => {
    const known = locatedRecord(5, fields({ name: 'acme' }));
    const before = locator.reads;
    expect(known.type).toBe(InstanceEventTypes.InstanceAdded);
    expect(locator.reads).toBe(before);
    otherTypes.set(6, 'some.other.event');
    const other = locatedRecord(6, fields({ anything: 1 }, { type: 'some.other.event' }));
    const reads = locator.reads;
    expect(other.type).toBe('some.other.event');
    expect(locator.reads).toBe(reads + 1);
    expect(InstanceEventTypes.InstanceAdded).not.toBe('some.other.event');
  });

  it('reads its id, type, position and payload right at places past a small integer (33 million and beyond)', () => {
    for (const place of [2 ** 25 - 1, 2 ** 25, 2 ** 31, 2 ** 40 + 3]) {
      const event = locatedRecord(place, fields({ name: 'acme' }, { type: InstanceEventTypes.SMTPConfigRemoved, data: deepFreeze({ id: 'c1' }) }));
      expect(event.id).toBe(`00000000-0000-8000-8000-${String(place).padStart(12, '0')}`);
      expect(event.position).toEqual({ commit: BigInt(place), prepare: BigInt(place) });
      expect(event.type).toBe(InstanceEventTypes.SMTPConfigRemoved);
      expect(decodeRecordedEvent(event)!.data).toBe(event.data);
    }
  });

  it('refuses a payload that does not fit on every decode, naming the position it finds then', () => {
    const event = locatedRecord(42, fields({ name: 42 }));
    for (let i = 0; i < 2; i++) {
      expect(() => decodeRecordedEvent(event)).toThrow(expect.objectContaining({ id: 'EVENT-DEC-7m3q', message: expect.stringContaining('42/42') }));
    }
  });

  it('leaves a copy with other data to be checked on its own', () => {
    const event = locatedRecord(3, fields({ name: 'acme' }));
    expect(() => decodeRecordedEvent({ ...event, data: { name: 42 } })).toThrow(expect.objectContaining({ id: 'EVENT-DEC-7m3q' }));
  });

  it('checks on every decode a payload that could still change when the record was built', () => {
    const data = { name: 'acme' };
    const event = locatedRecord(4, { ...fields({}), data });
    expect(decodeRecordedEvent(event)!.data).toEqual({ name: 'acme' });
    data.name = 42 as unknown as string;
    expect(() => decodeRecordedEvent(event)).toThrow(expect.objectContaining({ id: 'EVENT-DEC-7m3q' }));
  });
});

describe('recordMaker for two stores', () => {
  it('makes records that each find their id and position in their own store', () => {
    const store = (prefix: string) => ({
      idAt: (place: number) => `${prefix}-${place}`,
      typeAt: () => 'some.other.event',
      positionAt: (place: number) => ({ commit: BigInt(place), prepare: BigInt(place) }),
    });
    const fields = {
      streamId: 's',
      revision: 0n,
      type: 'some.other.event',
      data: Object.freeze({}),
      metadata: Object.freeze({ ...metadata, schemaVersion: 1 }),
    };
    const a = recordMaker(store('a'))(1, fields);
    const b = recordMaker(store('b'))(2, fields);
    expect([a.id, b.id]).toEqual(['a-1', 'b-2']);
    expect([a.position.commit, b.position.commit]).toEqual([1n, 2n]);
    expect(Object.getOwnPropertySymbols(a)).toEqual([]);
  });

  it('gives every record its type, known or not, through a locator that keeps ids and positions only (RecordLocator as it was before typeAt)', () => {
    // An embedder's own compact store, written against the exported recordMaker before this pass.
    const earlier = { idAt: (place: number) => `e-${place}`, positionAt: (place: number) => ({ commit: BigInt(place), prepare: BigInt(place) }) };
    const make = recordMaker(earlier as RecordLocator);
    const fields = (type: string) => ({ streamId: 's', revision: 0n, type, data: Object.freeze({ name: 'n' }), metadata: Object.freeze({ ...metadata, schemaVersion: 1 }) });
    const unknown = make(1, fields('some.other.event'));
    const known = make(2, fields(InstanceEventTypes.InstanceAdded));
    expect([unknown.type, known.type]).toEqual(['some.other.event', InstanceEventTypes.InstanceAdded]);
    expect(decodeRecordedEvent(unknown)).toBeUndefined();
    expect(decodeRecordedEvent(known)!.data).toBe(known.data);
    expect({ ...unknown }).toMatchObject({ id: 'e-1', type: 'some.other.event' });
  });
});
