import type { GlobalPosition } from '../ports/event-store.js';
import type { InstanceView, SmtpConfigView } from '../ports/read-model.js';

/**
 * The canonical dump every ProjectionStore's `snapshot()` returns, so that read models in different
 * stores, or rebuilt at different times, compare with a plain deep equality: rows sorted by key
 * (UTF-16 order), bigints as decimal strings, no checkpoint key before the first event.
 */
export const readModelSnapshot = (rows: {
  readonly checkpoint: GlobalPosition | undefined;
  readonly instances: Iterable<InstanceView>;
  readonly domains: Iterable<readonly [domain: string, instanceId: string]>;
  readonly smtpConfigs: Iterable<SmtpConfigView>;
}): unknown => {
  const byKey = <V>(entries: [string, V][]) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.parse(
    JSON.stringify(
      {
        checkpoint: rows.checkpoint,
        instances: byKey([...rows.instances].map((i) => [i.id, i])),
        domains: byKey([...rows.domains].map(([d, id]) => [d, id])),
        smtpConfigs: byKey([...rows.smtpConfigs].map((c) => [`${c.instanceId}/${c.id}`, c])),
      },
      (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
    ),
  );
};
