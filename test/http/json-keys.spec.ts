// The scan behind the REST port's "is given twice" (protojson-body.spec.ts has it over HTTP): which
// top-level keys a JSON text repeats, checked against texts written from known members.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { repeatedTopLevelKeys } from '../../src/infrastructure/http/json-keys.js';

/** A JSON object written member by member, so that keys may repeat (JSON.stringify never writes that). */
type Members = readonly (readonly [key: string, value: Raw, escapeKey: boolean])[];
type Raw = { readonly object: Members } | { readonly array: readonly Raw[] } | { readonly value: unknown };

const keyText = (key: string, escape: boolean) =>
  escape ? `"${[...key].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"` : JSON.stringify(key);
const write = (raw: Raw, space: string): string =>
  'object' in raw
    ? `{${space}${raw.object.map(([k, v, e]) => `${keyText(k, e)}${space}:${space}${write(v, space)}`).join(`,${space}`)}${space}}`
    : 'array' in raw
      ? `[${raw.array.map((v) => write(v, space)).join(`,${space}`)}]`
      : JSON.stringify(raw.value);

/** Keys from a small set, so that they repeat, with the characters an escape scan must get right. */
const key = fc.constantFrom('host', 'sender_address', 'senderAddress', '', 'a"b', 'c\\', '\\"', 'é', '{', ',', ']');
const { raw } = fc.letrec<{ raw: Raw; members: Members }>((tie) => ({
  raw: fc.oneof(
    { depthSize: 'small' },
    fc.record({ value: fc.jsonValue({ maxDepth: 0 }) }),
    fc.record({ value: fc.constantFrom('\\', '"', '\\"', '{"host":1,"host":2}', ',"host":', '') }),
    fc.record({ object: tie('members') as fc.Arbitrary<Members> }),
    fc.record({ array: fc.array(tie('raw') as fc.Arbitrary<Raw>, { maxLength: 3 }) }),
  ),
  members: fc.array(fc.tuple(key, tie('raw') as fc.Arbitrary<Raw>, fc.boolean()), { maxLength: 5 }),
}));
const topLevel = fc.array(fc.tuple(key, raw, fc.boolean()), { maxLength: 8 });

/** What the scan must find: each key the members give more than once, in the order of its second time. */
const expectedRepeats = (members: Members): string[] => {
  const seen = new Set<string>();
  const repeated: string[] = [];
  for (const [k] of members) {
    if (!seen.has(k)) seen.add(k);
    else if (!repeated.includes(k)) repeated.push(k);
  }
  return repeated;
};

describe('the top-level keys a JSON text gives more than once', () => {
  it('are the ones its members repeat, escaped or not, whatever the nested values hold', () => {
    fc.assert(
      fc.property(topLevel, fc.constantFrom('', ' ', '\n\t'), (members, space) => {
        const text = write({ object: members }, space);
        JSON.parse(text); // the scan is only ever given JSON that parsed
        expect(repeatedTopLevelKeys(`${space}${text}${space}`)).toEqual(expectedRepeats(members));
      }),
      { numRuns: 500 },
    );
  });

  it('are none for a text whose top level is not an object', () => {
    for (const text of ['[{"a":1,"a":2}]', '"a"', '1', 'null', '[1,"a","a"]']) expect(repeatedTopLevelKeys(text)).toEqual([]);
  });
});
