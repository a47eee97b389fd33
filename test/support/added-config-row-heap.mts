// Run by test/infrastructure/in-memory-projection-store.spec.ts in a process of its own, with
// --expose-gc: prints the heap a read model in memory keeps per configuration added, for changes
// made with the added event's payload (ADDED_FROM) and without it, by the payload's kind.
import { ADDED_FROM, InMemoryProjectionStore, type ReadModelChange } from './everything.js';

const N = 20_000;
const gc = (globalThis as { gc?: () => void }).gc!;
const mode = process.argv[2] as 'view' | 'unshared' | 'frozen';
const payloadOf = (i: number) => {
  const p = JSON.parse(
    JSON.stringify({
      id: `c-${i}`,
      senderAddress: `a${i}@example.com`,
      senderName: `n${i}`,
      tls: true,
      host: `h${i}:587`,
      user: `u${i}`,
      password: { cryptoType: 'encryption', algorithm: 'AES-256-GCM', keyId: 'k', crypted: `crypted-${i}` },
      replyToAddress: `r${i}@example.com`,
      description: `d${i}`,
    }),
  ) as Record<string, unknown> & { password: object };
  return p;
};
const store = new InMemoryProjectionStore();
await store.apply(
  Array.from({ length: N }, (_, i): ReadModelChange => ({ kind: 'upsertInstance', instance: { id: `i-${i}`, name: 'n', domains: [], sequence: 1n, creationDate: 't' } })),
  { commit: 0n, prepare: 0n },
);
/** Frozen payloads, as an event store in memory beside the read model keeps them: made before the count starts, and kept alive throughout. */
const frozen = mode === 'frozen' ? Array.from({ length: N }, (_, i) => Object.freeze(payloadOf(i))) : [];
for (const p of frozen) Object.freeze(p.password);
gc();
const before = process.memoryUsage().heapUsed;
const changeOf = (i: number): ReadModelChange => {
  const p = mode === 'frozen' ? frozen[i]! : payloadOf(i);
  const change = {
    kind: 'upsertSmtpConfig',
    config: {
      instanceId: `i-${i}`,
      id: p.id as string,
      senderAddress: p.senderAddress as string,
      senderName: p.senderName as string,
      tls: true,
      host: p.host as string,
      user: p.user as string,
      replyToAddress: p.replyToAddress as string,
      description: p.description as string,
      hasPassword: true,
      sequence: 3n,
      creationDate: 't',
      changeDate: 't',
      resourceOwner: `i-${i}`,
    },
  } as ReadModelChange;
  if (mode !== 'view') Object.defineProperty(change, ADDED_FROM, { value: p });
  return change;
};
for (let i = 0; i < N; i++) await store.apply([changeOf(i)], { commit: BigInt(i + 1), prepare: BigInt(i + 1) });
// The configuration written last is kept as the projection made it (see lastConfig): one more write, elsewhere, forgets it.
await store.apply([{ kind: 'removeSmtpConfig', instanceId: 'nowhere', id: 'none' }], { commit: BigInt(N + 1), prepare: BigInt(N + 1) });
gc();
const after = process.memoryUsage().heapUsed;
process.stdout.write(`${JSON.stringify({ mode, bytesPerConfig: Math.round((after - before) / N), frozen: frozen.length, read: (await store.smtpConfigOfInstance('i-1'))?.id })}\n`);
