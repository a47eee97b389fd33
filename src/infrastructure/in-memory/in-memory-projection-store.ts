import {
  ADDED_FROM,
  comparePositions,
  patchedSmtpConfig,
  readModelSnapshot,
  smtpConfigViewOf,
  type GlobalPosition,
  type InstanceView,
  type PositionedChanges,
  type ProjectionStore,
  type ReadModelChange,
  type SmtpConfigView,
} from '../../application/index.js';
import type { SMTPConfigAddedData } from '../../domain/index.js';
import type { InlineProjectionTarget } from './in-memory-event-store.js';

/**
 * A configuration row as an SMTPConfigAdded event made it, kept as that event's payload (which the
 * event store beside this read model holds already) and the two fields the payload does not give:
 * 48 bytes, where the row's own fourteen fields took 136. Its view is made when it is read, but for
 * the row written last, which a command that added it reads back at once (see `lastConfig`). Its
 * instance id is where it is kept (its instance's row, or the orphans' key).
 */
class AddedConfigRow {
  constructor(
    readonly payload: SMTPConfigAddedData,
    readonly sequence: bigint,
    readonly creationDate: string,
  ) {}

  get id(): string {
    return this.payload.id;
  }

  viewIn(instanceId: string): SmtpConfigView {
    return smtpConfigViewOf(this.payload, instanceId, this.sequence, this.creationDate);
  }
}

/** A configuration row as kept: a view of its own, or one made from its added event (see AddedConfigRow). */
type KeptConfig = SmtpConfigView | AddedConfigRow;

/**
 * The row to keep for an upsert: the added event's payload when the row is exactly what it gives and
 * the payload is frozen (an event store in memory beside this read model keeps it, or its decode memo
 * does), or else the row itself. A payload that is not frozen is a decode's copy of its own (an event
 * read from EventStoreDB, SQLite or PostgreSQL): kept here, it and its encrypted password would cost
 * more than the row (measured: 472 B a configuration, where the row takes 394 B with its strings).
 */
const keptConfig = (change: Extract<ReadModelChange, { kind: 'upsertSmtpConfig' }>): KeptConfig => {
  const c = change.config;
  const p = change[ADDED_FROM];
  return p !== undefined &&
    Object.isFrozen(p) &&
    c.id === p.id &&
    c.senderAddress === p.senderAddress &&
    c.senderName === p.senderName &&
    c.tls === p.tls &&
    c.host === p.host &&
    c.user === p.user &&
    c.replyToAddress === p.replyToAddress &&
    c.description === p.description &&
    c.hasPassword === (p.password !== undefined) &&
    c.changeDate === c.creationDate &&
    c.resourceOwner === c.instanceId
    ? new AddedConfigRow(p, c.sequence, c.creationDate)
    : c;
};

const viewOf = (kept: KeptConfig, instanceId: string): SmtpConfigView => (kept instanceof AddedConfigRow ? kept.viewIn(instanceId) : kept);

/** The configurations of one instance: the row itself when it has one (as it always has, at most), or its rows in the order they were added. */
type ConfigsOfInstance = KeptConfig | readonly KeptConfig[];

const rowsOf = (configs: ConfigsOfInstance): readonly KeptConfig[] => (Array.isArray(configs) ? configs : [configs as KeptConfig]);

/** The configurations with `row` in place of the one with its id, or added after the others. */
const withRow = (configs: ConfigsOfInstance | undefined, row: KeptConfig): ConfigsOfInstance => {
  if (configs === undefined) return row;
  const rows = rowsOf(configs);
  const at = rows.findIndex((r) => r.id === row.id);
  if (at < 0) return [...rows, row];
  if (rows.length === 1) return row;
  return rows.map((r, i) => (i === at ? row : r));
};

/** An instance's domains as a row keeps them: none, the one (as an instance usually has), or several. */
type KeptDomains = undefined | string | readonly string[];

const keptDomains = (domains: readonly string[]): KeptDomains => (domains.length === 0 ? undefined : domains.length === 1 ? domains[0]! : domains);

/**
 * An instance's row, which also keeps the instance's configurations: one map entry less for every
 * instance with a configuration (about 37 bytes, for 8 more in the row). They are in a private
 * field, so that the row reads as the view it is: spreads, JSON and equality see the view's fields
 * alone. A row is replaced, never changed, when the instance changes; only its configurations are
 * set in place, which a reader holding the row never sees.
 *
 * Its one domain is kept as the string alone, and `domains` (an own accessor, the same function for
 * every row, so that it reads, spreads and serialises as a field) makes the array when read: an
 * array less per instance (56 bytes) for one made on each read, which no command does.
 */
class InstanceRow implements InstanceView {
  readonly id: string;
  readonly name: string;
  declare readonly domains: readonly string[];
  readonly sequence: bigint;
  readonly creationDate: string;
  readonly #domains: KeptDomains;
  #configs: ConfigsOfInstance | undefined;

  static readonly #domainsAccessor: PropertyDescriptor = {
    enumerable: true,
    get(this: InstanceRow): readonly string[] {
      const kept = this.#domains;
      return kept === undefined ? [] : typeof kept === 'string' ? [kept] : kept;
    },
  };

  constructor(view: InstanceView, domains: KeptDomains, sequence: bigint, configs: ConfigsOfInstance | undefined) {
    this.id = view.id;
    this.name = view.name;
    Object.defineProperty(this, 'domains', InstanceRow.#domainsAccessor);
    this.sequence = sequence;
    this.creationDate = view.creationDate;
    this.#domains = domains;
    this.#configs = configs;
  }

  static keptDomainsOf(row: InstanceRow): KeptDomains {
    return row.#domains;
  }

  static configsOf(row: InstanceRow): ConfigsOfInstance | undefined {
    return row.#configs;
  }

  static setConfigs(row: InstanceRow, configs: ConfigsOfInstance | undefined): void {
    row.#configs = configs;
  }
}

/** The read model in memory, with its checkpoint. Each apply is one synchronous, atomic step. */
export class InMemoryProjectionStore implements ProjectionStore, InlineProjectionTarget {
  /**
   * Configuration rows of instances that have no row (yet): an instance's configurations are kept in
   * its row (see InstanceRow) once it has one. Keyed by the instance alone (an instance has one at
   * most), so that the instance's configuration is found without looking through every row.
   */
  private orphanConfigs = new Map<string, ConfigsOfInstance>();
  private instanceRows = new Map<string, InstanceRow>();
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
    this.orphanConfigs = new Map();
    this.instanceRows = new Map();
    this.domains = new Map();
    this.position = undefined;
  }

  async smtpConfigById(instanceId: string, id: string): Promise<SmtpConfigView | undefined> {
    const last = this.lastConfig;
    if (last !== undefined && last.id === id && last.instanceId === instanceId) return last;
    return this.configOf(instanceId, id);
  }

  /** The configurations of an instance, in its row or, when it has none, among the orphans. */
  private configsOf(instanceId: string): ConfigsOfInstance | undefined {
    const row = this.instanceRows.get(instanceId);
    return row !== undefined ? InstanceRow.configsOf(row) : this.orphanConfigs.get(instanceId);
  }

  private setConfigs(instanceId: string, configs: ConfigsOfInstance | undefined): void {
    const row = this.instanceRows.get(instanceId);
    if (row !== undefined) InstanceRow.setConfigs(row, configs);
    else if (configs === undefined) this.orphanConfigs.delete(instanceId);
    else this.orphanConfigs.set(instanceId, configs);
  }

  private configOf(instanceId: string, id: string): SmtpConfigView | undefined {
    const configs = this.configsOf(instanceId);
    if (configs === undefined) return undefined;
    const kept = Array.isArray(configs) ? configs.find((r: KeptConfig) => r.id === id) : (configs as KeptConfig).id === id ? (configs as KeptConfig) : undefined;
    return kept === undefined ? undefined : viewOf(kept, instanceId);
  }

  async smtpConfigOfInstance(instanceId: string): Promise<SmtpConfigView | undefined> {
    const configs = this.configsOf(instanceId);
    return configs === undefined ? undefined : viewOf(rowsOf(configs)[0]!, instanceId);
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
      smtpConfigs: [...this.instanceRows.values()]
        .map((row): [string, ConfigsOfInstance | undefined] => [row.id, InstanceRow.configsOf(row)])
        .concat([...this.orphanConfigs.entries()])
        .flatMap(([instanceId, configs]) => (configs === undefined ? [] : rowsOf(configs).map((kept) => viewOf(kept, instanceId)))),
    });
  }

  private applyOne(change: ReadModelChange): void {
    switch (change.kind) {
      case 'upsertInstance': {
        const { id } = change.instance;
        const old = this.instanceRows.get(id);
        const configs = old !== undefined ? InstanceRow.configsOf(old) : this.orphanConfigs.get(id);
        if (old === undefined && configs !== undefined) this.orphanConfigs.delete(id);
        this.instanceRows.set(id, new InstanceRow(change.instance, old !== undefined ? InstanceRow.keptDomainsOf(old) : undefined, change.instance.sequence, configs));
        return;
      }
      case 'addInstanceDomain': {
        const instance = this.instanceRows.get(change.instanceId);
        if (!instance) return;
        const kept = InstanceRow.keptDomainsOf(instance);
        // concat makes an array of exactly the domains; a spread leaves room for 16 more (128 bytes per instance).
        const domains =
          kept === undefined
            ? change.domain
            : kept === change.domain
              ? kept
              : keptDomains(instance.domains.includes(change.domain) ? instance.domains : instance.domains.concat([change.domain]));
        this.instanceRows.set(change.instanceId, new InstanceRow(instance, domains, change.sequence, InstanceRow.configsOf(instance)));
        this.domains.set(change.domain, change.instanceId);
        return;
      }
      case 'upsertSmtpConfig': {
        const { instanceId } = change.config;
        const kept = keptConfig(change);
        // One look-up in the map of every instance, not two (one to read, one to write).
        const row = this.instanceRows.get(instanceId);
        if (row !== undefined) InstanceRow.setConfigs(row, withRow(InstanceRow.configsOf(row), kept));
        else this.orphanConfigs.set(instanceId, withRow(this.orphanConfigs.get(instanceId), kept));
        this.lastConfig = change.config;
        return;
      }
      case 'patchSmtpConfig': {
        this.lastConfig = undefined;
        const row = this.configOf(change.instanceId, change.id);
        if (row) this.setConfigs(change.instanceId, withRow(this.configsOf(change.instanceId), patchedSmtpConfig(row, change)));
        return;
      }
      case 'removeSmtpConfig': {
        this.lastConfig = undefined;
        const configs = this.configsOf(change.instanceId);
        if (configs === undefined) return;
        const rows = rowsOf(configs).filter((r) => r.id !== change.id);
        this.setConfigs(change.instanceId, rows.length === 0 ? undefined : rows.length === 1 ? rows[0]! : rows);
        return;
      }
    }
  }
}
