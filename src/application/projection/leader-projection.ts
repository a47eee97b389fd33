import type { ProjectionLock } from '../ports/projection-lock.js';
import type { ProjectionRunner } from './projection-runner.js';

export interface LeaderProjectionOptions {
  /** How often a replica without the lock tries again (ms). */
  readonly retryMs?: number;
  readonly onLeadershipChange?: (leading: boolean) => void;
  readonly onError?: (error: unknown) => void;
}

/**
 * Runs the projection only while this process holds the projection lock: the one writer among
 * replicas. The others keep trying every `retryMs`, so when the holder dies one of them takes over
 * within about that time. A lost lock stops the runner at once.
 */
export class LeaderProjection {
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private isLeading = false;

  constructor(
    private readonly runner: Pick<ProjectionRunner, 'start' | 'stop'>,
    private readonly lock: ProjectionLock,
    private readonly options: LeaderProjectionOptions = {},
  ) {}

  get leading(): boolean {
    return this.isLeading;
  }

  start(): void {
    if (this.loop) return;
    const abort = new AbortController();
    this.abort = abort;
    this.loop = this.run(abort.signal);
  }

  /** Stops the runner (if leading) and lets go of the lock. */
  async stop(): Promise<void> {
    this.abort?.abort();
    await this.loop;
    this.loop = undefined;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    while (!signal.aborted) {
      let lease;
      try {
        lease = await this.lock.tryAcquire();
      } catch (error) {
        this.options.onError?.(error);
      }
      if (lease) {
        this.setLeading(true);
        this.runner.start();
        await Promise.race([lease.lost, stopped]);
        await this.runner.stop();
        await lease.release().catch((error: unknown) => this.options.onError?.(error));
        this.setLeading(false);
      }
      await Promise.race([new Promise((r) => setTimeout(r, this.options.retryMs ?? 1_000)), stopped]);
    }
  }

  private setLeading(leading: boolean): void {
    this.isLeading = leading;
    this.options.onLeadershipChange?.(leading);
  }
}
