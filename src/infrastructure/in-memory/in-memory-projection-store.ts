import {
  comparePositions,
  patchedSmtpConfig,
  readModelSnapshot,
  type GlobalPosition,
  type InstanceView,
  type PositionedChanges,
  type ProjectionStore,
  type ReadModelChange,
  type SmtpConfigView,
} from '../../application/index.js';
import type { InlineProjectionTarget } from './in-memory-event-store.js';

/** The configurations of one instance: the row itself when it has one (as it always has, at most), or its rows in the order they were added. */
type ConfigsOfInstance = SmtpConfigView | readonly SmtpConfigView[];

const rowsOf = (configs: ConfigsOfInstance): readonly SmtpConfigView[] => (Array.isArray(configs) ? configs : [configs as SmtpConfigView]);

/** The configurations with `row` in place of the one with its id, or added after the others. */
const withRow = (configs: ConfigsOfInstance | undefined, row: SmtpConfigView): ConfigsOfInstance => {
  if (configs === undefined) return row;
  const rows = rowsOf(configs);
  const at = rows.findIndex((r) => r.id === row.id);
  if (at < 0) return [...rows, row];
  if (rows.length === 1) return row;
  return rows.map((r, i) => (i === at ? row : r));
};

/** The read model in memory, with its checkpoint. Each apply is one synchronous, atomic step. */
export class InMemoryProjectionStore implements ProjectionStore, InlineProjectionTarget {
  /**
   * Configuration rows by instance: an instance has one at most, so keyed by the instance alone
   * (no key string of instance and id to keep for every row), and the instance's configuration is
   * found without looking through every row.
   */
  private configs = new Map<string, ConfigsOfInstance>();
  private instanceRows = new Map<string, InstanceView>();
  private domains = new Map<string, string>();
  private position: GlobalPosition | undefined;
  /**
   * The configuration row last written, by its instance and id: a command that adds one reads it
   * back at once, and finds it here without building its key again and looking it up in a map of
   * every configuration. Any other write to the configurations forgets it.
   */
  private lastConfig: SmtpConfigView | undefined;

  async checkpoint(): Promise<GlobalPosition | undefined> {
    return this.position;
  }

  async apply(changes: readonly ReadModelChange[], position: GlobalPosition): Promise<void> {
    if (this.position && comparePositions(position, this.position) <= 0) return;
    for (const change of changes) this.applyOne(change);
    this.position = position;
  }

  async applyBatch(batch: readonly PositionedChanges[]): Promise<void> {
    for (const { changes, position } of batch) {
      if (this.position && comparePositions(position, this.position) <= 0) continue;
      for (const change of changes) this.applyOne(change);
      this.position = position;
    }
  }

  /** For the event store's inline projection (see InMemoryEventStore.projectInline). */
  applyAtHead(head: GlobalPosition | undefined, changes: readonly ReadModelChange[], position: GlobalPosition): boolean {
    const at = this.position;
    if (at === undefined ? head !== undefined : head === undefined || comparePositions(at, head) !== 0) return false;
    for (const change of changes) this.applyOne(change);
    this.position = position;
    return true;
  }

  async saveCheckpoint(position: GlobalPosition): Promise<void> {
    if (this.position && comparePositions(position, this.position) <= 0) return;
    this.position = position;
  }

  async reset(): Promise<void> {
    this.lastConfig = undefined;
    this.configs = new Map();
    this.instanceRows = new Map();
    this.domains = new Map();
    this.position = undefined;
  }

  async smtpConfigById(instanceId: string, id: string): Promise<SmtpConfigView | undefined> {
    const last = this.lastConfig;
    if (last !== undefined && last.id === id && last.instanceId === instanceId) return last;
    return this.configOf(instanceId, id);
  }

  private configOf(instanceId: string, id: string): SmtpConfigView | undefined {
    const configs = this.configs.get(instanceId);
    if (configs === undefined) return undefined;
    if (!Array.isArray(configs)) return (configs as SmtpConfigView).id === id ? (configs as SmtpConfigView) : undefined;
    return configs.find((r: SmtpConfigView) => r.id === id);
  }

  async smtpConfigOfInstance(instanceId: string): Promise<SmtpConfigView | undefined> {
    const configs = this.configs.get(instanceId);
    return configs === undefined ? undefined : rowsOf(configs)[0];
  }

  async instanceById(instanceId: string): Promise<InstanceView | undefined> {
    return this.instanceRows.get(instanceId);
  }

  async instanceByDomain(domain: string): Promise<InstanceView | undefined> {
    const id = this.domains.get(domain.toLowerCase());
    return id === undefined ? undefined : this.instanceRows.get(id);
  }

  async *instances(): AsyncIterable<InstanceView> {
    const ids = [...this.instanceRows.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const id of ids) yield this.instanceRows.get(id)!;
  }

  async snapshot(): Promise<unknown> {
    return readModelSnapshot({
      checkpoint: this.position,
      instances: this.instanceRows.values(),
      domains: this.domains.entries(),
      smtpConfigs: [...this.configs.values()].flatMap(rowsOf),
    });
  }

  private applyOne(change: ReadModelChange): void {
    switch (change.kind) {
      case 'upsertInstance':
        this.instanceRows.set(change.instance.id, { ...change.instance, domains: this.instanceRows.get(change.instance.id)?.domains ?? [] });
        return;
      case 'addInstanceDomain': {
        const instance = this.instanceRows.get(change.instanceId);
        if (!instance) return;
        // concat makes an array of exactly the domains; a spread leaves room for 16 more (128 bytes per instance).
        const domains = instance.domains.includes(change.domain) ? instance.domains : instance.domains.concat([change.domain]);
        this.instanceRows.set(change.instanceId, { ...instance, domains, sequence: change.sequence });
        this.domains.set(change.domain, change.instanceId);
        return;
      }
      case 'upsertSmtpConfig': {
        const { instanceId } = change.config;
        this.configs.set(instanceId, withRow(this.configs.get(instanceId), change.config));
        this.lastConfig = change.config;
        return;
      }
      case 'patchSmtpConfig': {
        this.lastConfig = undefined;
        const row = this.configOf(change.instanceId, change.id);
        if (row) this.configs.set(change.instanceId, withRow(this.configs.get(change.instanceId), patchedSmtpConfig(row, change)));
        return;
      }
      case 'removeSmtpConfig': {
        this.lastConfig = undefined;
        const configs = this.configs.get(change.instanceId);
        if (configs === undefined) return;
        const rows = rowsOf(configs).filter((r) => r.id !== change.id);
        if (rows.length === 0) this.configs.delete(change.instanceId);
        else this.configs.set(change.instanceId, rows.length === 1 ? rows[0]! : rows);
        return;
      }
    }
  }
}
