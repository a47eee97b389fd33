import { DomainError, ErrorKind } from '../../domain/index.js';
import { comparePositions, type GlobalPosition } from '../ports/event-store.js';

interface Waiter {
  readonly position: GlobalPosition;
  /** Date.now() after which it fails. */
  readonly deadline: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

const timedOut = () => new DomainError(ErrorKind.Unavailable, 'PROJ-wait-7t2k', 'Errors.Projection.Timeout', 'the read model did not catch up in time');

/**
 * Callers waiting until a read model has processed a position: each resolves once a position at or
 * after its own is released, or fails with Unavailable (`PROJ-wait-7t2k`) after its timeout and is
 * forgotten. Shared by the projection runner and the checkpoint watcher.
 *
 * All waiters share one timer, set for the earliest deadline: a command's wait costs a promise, not
 * a timer of its own to set and clear. While nobody waits the timer is left to run out unreferenced
 * (it keeps no process alive) rather than cleared, so that the next waiter usually finds it set.
 */
export class PositionWaiters {
  private waiters: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The deadline the timer is set for. */
  private timerAt = Infinity;

  get size(): number {
    return this.waiters.length;
  }

  add(position: GlobalPosition, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      this.waiters.push({ position, deadline, resolve, reject });
      this.arm(deadline);
    });
  }

  /** Resolves every waiter whose position is at or before `position`. */
  releaseUpTo(position: GlobalPosition): void {
    const waiters = this.waiters;
    if (waiters.length === 0) return;
    if (waiters.length === 1) {
      // The usual case, one command waiting for its own event: no arrays built to release it.
      const only = waiters[0]!;
      if (comparePositions(position, only.position) < 0) return;
      waiters.pop();
      this.timer?.unref();
      return only.resolve();
    }
    let ready: Waiter[] | undefined;
    let kept: Waiter[] | undefined;
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i]!;
      if (comparePositions(position, w.position) >= 0) {
        (ready ??= []).push(w);
        if (!kept) kept = waiters.slice(0, i);
      } else if (kept) {
        kept.push(w);
      }
    }
    if (!ready) return;
    this.waiters = kept!;
    if (this.waiters.length === 0) this.timer?.unref();
    for (const w of ready) w.resolve();
  }

  private arm(deadline: number): void {
    if (this.timer && this.timerAt <= deadline) {
      this.timer.ref();
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = deadline;
    this.timer = setTimeout(() => this.expire(), Math.max(0, deadline - Date.now()));
  }

  /** The timer ran out: fail every waiter whose deadline has come (the one it was set for at least). */
  private expire(): void {
    const due = Math.max(this.timerAt, Date.now());
    this.timer = undefined;
    this.timerAt = Infinity;
    const expired = this.waiters.filter((w) => w.deadline <= due);
    if (expired.length > 0) this.waiters = this.waiters.filter((w) => w.deadline > due);
    let next = Infinity;
    for (const w of this.waiters) next = Math.min(next, w.deadline);
    if (next !== Infinity) this.arm(next);
    for (const w of expired) w.reject(timedOut());
  }
}
