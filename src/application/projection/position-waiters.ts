import { DomainError, ErrorKind } from '../../domain/index.js';
import { comparePositions, type GlobalPosition } from '../ports/event-store.js';

interface Waiter {
  readonly position: GlobalPosition;
  readonly resolve: () => void;
}

/**
 * Callers waiting until a read model has processed a position: each resolves once a position at or
 * after its own is released, or fails with Unavailable (`PROJ-wait-7t2k`) after its timeout and is
 * forgotten. Shared by the projection runner and the checkpoint watcher.
 */
export class PositionWaiters {
  private waiters: Waiter[] = [];

  get size(): number {
    return this.waiters.length;
  }

  add(position: GlobalPosition, timeoutMs: number): Promise<void> {
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
    });
  }

  /** Resolves every waiter whose position is at or before `position`. */
  releaseUpTo(position: GlobalPosition): void {
    const ready = this.waiters.filter((w) => comparePositions(position, w.position) >= 0);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => comparePositions(position, w.position) < 0);
    for (const w of ready) w.resolve();
  }
}
