import { patchedSmtpConfig, type GlobalPosition, type PositionedChanges, type SmtpConfigView } from '../../application/index.js';

/** How many configuration rows wait to be taken by the commands whose events made them. */
const PROJECTED_ROWS_KEPT = 4_096;

/** An event's position and a configuration's key, unambiguous whatever the ids hold. */
const keyOf = (position: GlobalPosition, instanceId: string, id: string): string => `${position.commit}/${instanceId.length}/${instanceId}/${id}`;

/**
 * The configuration rows a SQL read model wrote in this process (PostgreSQL's inline projection,
 * SQLite's projection batches), each by the position of the event that made it, so that the command
 * that appended that event answers from its row without reading it back (see the read model port's
 * takeSmtpConfigProjectedAt). Each row is handed out once. The newest PROJECTED_ROWS_KEPT are kept;
 * a row nobody takes (a command that gave up waiting, an event of another process) ages out.
 */
export class ProjectedRows {
  private readonly rows = new Map<string, SmtpConfigView>();

  /** Notes the rows that `entries`, committed, left. */
  note(entries: readonly PositionedChanges[]): void {
    for (const { changes, position } of entries) {
      for (const change of changes) {
        if (change.kind === 'upsertSmtpConfig') {
          const key = keyOf(position, change.config.instanceId, change.config.id);
          this.rows.delete(key);
          this.rows.set(key, change.config);
        } else if (change.kind === 'patchSmtpConfig') {
          const key = keyOf(position, change.instanceId, change.id);
          const row = this.rows.get(key);
          if (row) this.rows.set(key, patchedSmtpConfig(row, change));
        } else if (change.kind === 'removeSmtpConfig') {
          this.rows.delete(keyOf(position, change.instanceId, change.id));
        }
      }
    }
    for (const key of this.rows.keys()) {
      if (this.rows.size <= PROJECTED_ROWS_KEPT) break;
      this.rows.delete(key);
    }
  }

  /** The row written for the event at `position`, once; undefined when none was noted or it aged out. */
  take(instanceId: string, id: string, position: GlobalPosition): SmtpConfigView | undefined {
    if (this.rows.size === 0) return undefined;
    const key = keyOf(position, instanceId, id);
    const row = this.rows.get(key);
    if (row) this.rows.delete(key);
    return row;
  }

  /** Forgets every row (the read model was reset or replaced). */
  clear(): void {
    this.rows.clear();
  }
}
