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

/** The read model in memory, with its checkpoint. Each apply is one synchronous, atomic step. */
export class InMemoryProjectionStore implements ProjectionStore, InlineProjectionTarget {
  private configs = new Map<string, SmtpConfigView>();
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
    return this.configs.get(`${instanceId}/${id}`);
  }

  async smtpConfigOfInstance(instanceId: string): Promise<SmtpConfigView | undefined> {
    for (const config of this.configs.values()) if (config.instanceId === instanceId) return config;
    return undefined;
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
      smtpConfigs: this.configs.values(),
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
        const domains = instance.domains.includes(change.domain) ? instance.domains : [...instance.domains, change.domain];
        this.instanceRows.set(change.instanceId, { ...instance, domains, sequence: change.sequence });
        this.domains.set(change.domain, change.instanceId);
        return;
      }
      case 'upsertSmtpConfig':
        this.configs.set(`${change.config.instanceId}/${change.config.id}`, change.config);
        this.lastConfig = change.config;
        return;
      case 'patchSmtpConfig': {
        this.lastConfig = undefined;
        const key = `${change.instanceId}/${change.id}`;
        const row = this.configs.get(key);
        if (row) this.configs.set(key, patchedSmtpConfig(row, change));
        return;
      }
      case 'removeSmtpConfig':
        this.lastConfig = undefined;
        this.configs.delete(`${change.instanceId}/${change.id}`);
        return;
    }
  }
}
