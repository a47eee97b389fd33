import type { SMTPConfigAddedData } from '../../domain/index.js';
import type { GlobalPosition } from './event-store.js';

/** One SMTP configuration as the read side keeps it: never with the password. */
export interface SmtpConfigView {
  readonly instanceId: string;
  readonly id: string;
  readonly senderAddress: string;
  readonly senderName: string;
  readonly tls: boolean;
  readonly host: string;
  readonly user: string;
  readonly replyToAddress: string;
  readonly description: string;
  /** Whether a password is set; the password itself stays in the event store, encrypted. */
  readonly hasPassword: boolean;
  /** The instance aggregate's sequence after the event that last changed this row. */
  readonly sequence: bigint;
  readonly creationDate: string;
  readonly changeDate: string;
  readonly resourceOwner: string;
}

/** Instances as the read side knows them, to find one by domain. */
export interface InstanceView {
  readonly id: string;
  readonly name: string;
  readonly domains: readonly string[];
  readonly sequence: bigint;
  readonly creationDate: string;
}

/**
 * In an `upsertSmtpConfig` change made from an SMTPConfigAdded event: that event's payload, which
 * a read model kept in memory beside the event store may hold instead of copies of its fields (the
 * in-memory one does, when the row agrees with it). A symbol, so that a change written as JSON
 * (PostgreSQL's inline projection sends its changes so) leaves it out; every other store ignores it.
 * The projection defines it not enumerable, so that a change logged or spread leaves it out too.
 */
export const ADDED_FROM: unique symbol = Symbol('addedFrom');

/** A change the projection makes to the read model, decided by a pure handler. */
export type ReadModelChange =
  | { readonly kind: 'upsertInstance'; readonly instance: InstanceView }
  | { readonly kind: 'addInstanceDomain'; readonly instanceId: string; readonly domain: string; readonly sequence: bigint }
  | { readonly kind: 'upsertSmtpConfig'; readonly config: SmtpConfigView; readonly [ADDED_FROM]?: SMTPConfigAddedData }
  /** Changes some fields of a configuration row; a row that does not exist stays absent. */
  | {
      readonly kind: 'patchSmtpConfig';
      readonly instanceId: string;
      readonly id: string;
      readonly changes: SmtpConfigPatch;
      readonly sequence: bigint;
      readonly changeDate: string;
    }
  /** Drops a configuration row (if it exists). */
  | { readonly kind: 'removeSmtpConfig'; readonly instanceId: string; readonly id: string };

/** The fields of a configuration row that an update can change. */
export type SmtpConfigPatch = Partial<
  Pick<SmtpConfigView, 'senderAddress' | 'senderName' | 'tls' | 'host' | 'user' | 'replyToAddress' | 'description' | 'hasPassword'>
>;

/** A row with a patch applied: the shared rule of every store. */
export const patchedSmtpConfig = (row: SmtpConfigView, change: Extract<ReadModelChange, { kind: 'patchSmtpConfig' }>): SmtpConfigView => ({
  ...row,
  ...change.changes,
  sequence: change.sequence,
  changeDate: change.changeDate,
});

export interface SmtpConfigQueries {
  smtpConfigById(instanceId: string, id: string): Promise<SmtpConfigView | undefined>;
  /**
   * Optional: the configuration row exactly as the projection wrote it for the append that ended at
   * `position`, when this process wrote it itself (in that append's transaction, an inline
   * projection, or in a batch of its projection runner) and still holds it; otherwise undefined
   * (then ask `smtpConfigById`). It is the row
   * as of that append, which is what the command's answer reports, with no round trip. Each row is
   * handed out once.
   */
  takeSmtpConfigProjectedAt?(instanceId: string, id: string, position: GlobalPosition): SmtpConfigView | undefined;
  /** The instance's configuration (at most one exists at a time), or undefined when none is set. */
  smtpConfigOfInstance(instanceId: string): Promise<SmtpConfigView | undefined>;
  instanceById(instanceId: string): Promise<InstanceView | undefined>;
  instanceByDomain(domain: string): Promise<InstanceView | undefined>;
  /** Every instance, in id order (for operators' tools). */
  instances(): AsyncIterable<InstanceView>;
}

/** The changes one event makes, at that event's position (empty for events the projection ignores). */
export interface Positioned<C> {
  readonly changes: readonly C[];
  readonly position: GlobalPosition;
}

export type PositionedChanges = Positioned<ReadModelChange>;

/**
 * Where any projection keeps what it builds, of its own change type `C`: what the generic
 * projection runner needs. The rules the SMTP read model follows hold for every target: a batch is
 * applied with its checkpoint in one atomic step, and entries at or before the checkpoint are skipped.
 */
export interface ProjectionTarget<C> {
  /** The position of the last event applied, or undefined before the first. */
  checkpoint(): Promise<GlobalPosition | undefined>;
  /** Applies every entry after the checkpoint, in order, and moves the checkpoint to the last; all or nothing. */
  applyBatch(batch: readonly Positioned<C>[]): Promise<void>;
  /** Forgets everything and the checkpoint (only needed for ProjectionRunner.rebuild). */
  reset?(): Promise<void>;
}

/** The read model's write side, used by the projection runner only. */
export interface ProjectionStore extends SmtpConfigQueries, ProjectionTarget<ReadModelChange> {
  /** The position of the last event applied, or undefined before the first. */
  checkpoint(): Promise<GlobalPosition | undefined>;
  /**
   * Applies the changes and moves the checkpoint to `position` in one atomic step. Does nothing when
   * `position` is not after the checkpoint, so delivering an event twice changes nothing.
   */
  apply(changes: readonly ReadModelChange[], position: GlobalPosition): Promise<void>;
  /**
   * Applies a batch in one atomic step: every entry whose position is after the checkpoint, in
   * order, and the checkpoint moves to the last of them. Entries at or before the checkpoint are
   * skipped, so a batch that overlaps what was applied already (another writer, a redelivery)
   * changes nothing twice. On failure nothing of the batch is applied.
   */
  applyBatch(batch: readonly PositionedChanges[]): Promise<void>;
  /** Moves the checkpoint without changes (for events the projection ignores). */
  saveCheckpoint(position: GlobalPosition): Promise<void>;
  /** Forgets every row and the checkpoint, for a rebuild. */
  reset(): Promise<void>;
  /** A canonical, comparable dump of the whole read model (rows sorted by key). */
  snapshot(): Promise<unknown>;
}
