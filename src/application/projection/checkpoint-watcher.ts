import { comparePositions, type GlobalPosition } from '../ports/event-store.js';
import type { ProjectionStore } from '../ports/read-model.js';
import { PositionWaiters } from './position-waiters.js';

/**
 * Read-your-writes on a replica that does not run the projection itself: waits until the shared
 * read model's checkpoint has passed a position. It reads the checkpoint when told that it moved
 * (`notify`, from the store's notifications) and every `pollMs` while anyone waits, so a lost
 * notification costs one poll interval. Times out like the runner, with Unavailable.
 */
export class CheckpointWatcher {
  private readonly waiters = new PositionWaiters();
  private polling = false;
  private wake: (() => void) | undefined;
  /** The highest checkpoint this process knows the read model has reached. */
  private known: GlobalPosition | undefined;

  constructor(
    private readonly readModel: Pick<ProjectionStore, 'checkpoint'>,
    private readonly pollMs = 200,
  ) {}

  waitFor(position: GlobalPosition, timeoutMs: number): Promise<void> {
    if (this.known && comparePositions(this.known, position) >= 0) return Promise.resolve();
    const waiting = this.waiters.add(position, timeoutMs);
    if (this.polling) this.notify();
    else void this.poll();
    return waiting;
  }

  /**
   * The checkpoint is known to have reached `position` (an append of this process projected inline
   * and moved it there in its own transaction): releases the waits up to it without a read.
   */
  reached(position: GlobalPosition): void {
    if (!this.known || comparePositions(position, this.known) > 0) this.known = position;
    this.waiters.releaseUpTo(position);
  }

  /** The checkpoint may have moved: read it now. */
  notify(): void {
    this.wake?.();
  }

  get pendingWaits(): number {
    return this.waiters.size;
  }

  /** Reads the checkpoint until nobody waits. `polling` changes only synchronously, so no wait is ever left unpolled. */
  private async poll(): Promise<void> {
    this.polling = true;
    for (;;) {
      try {
        const at = await this.readModel.checkpoint();
        if (at) this.reached(at);
      } catch {
        // The read model is unreachable for now; the waiters time out if it stays so.
      }
      if (this.waiters.size === 0) {
        this.polling = false;
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.pollMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.wake = done;
      });
      this.wake = undefined;
    }
  }
}
