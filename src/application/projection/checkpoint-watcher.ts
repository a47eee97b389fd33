import { DomainError, ErrorKind } from '../../domain/index.js';
import { comparePositions, type GlobalPosition } from '../ports/event-store.js';
import type { ProjectionStore } from '../ports/read-model.js';

interface Waiter {
  readonly position: GlobalPosition;
  readonly resolve: () => void;
}

/**
 * Read-your-writes on a replica that does not run the projection itself: waits until the shared
 * read model's checkpoint has passed a position. It reads the checkpoint when told that it moved
 * (`notify`, from the store's notifications) and every `pollMs` while anyone waits, so a lost
 * notification costs one poll interval. Times out like the runner, with Unavailable.
 */
export class CheckpointWatcher {
  private waiters: Waiter[] = [];
  private polling: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly readModel: Pick<ProjectionStore, 'checkpoint'>,
    private readonly pollMs = 200,
  ) {}

  waitFor(position: GlobalPosition, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new DomainError(ErrorKind.Unavailable, 'PROJ-wait-7t2k', 'Errors.Projection.Timeout', 'the read model did not catch up in time'));
      }, timeoutMs);
      const waiter: Waiter = {
        position,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(waiter);
      this.polling ??= this.poll().finally(() => (this.polling = undefined));
      this.notify();
    });
  }

  /** The checkpoint may have moved: read it now. */
  notify(): void {
    this.wake?.();
  }

  get pendingWaits(): number {
    return this.waiters.length;
  }

  private async poll(): Promise<void> {
    while (this.waiters.length > 0) {
      try {
        const at = await this.readModel.checkpoint();
        if (at) {
          const ready = this.waiters.filter((w) => comparePositions(at, w.position) >= 0);
          this.waiters = this.waiters.filter((w) => comparePositions(at, w.position) < 0);
          for (const w of ready) w.resolve();
        }
      } catch {
        // The read model is unreachable for now; the waiters time out if it stays so.
      }
      if (this.waiters.length === 0) return;
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
