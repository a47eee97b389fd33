/** A held projection lock. */
export interface ProjectionLease {
  /** Resolves if the lock is lost while held (its connection failed): stop writing at once. */
  readonly lost: Promise<void>;
  release(): Promise<void>;
}

/**
 * Who may write the read model. Where several replicas share one read model, exactly one holds
 * the lock at a time; the store releases it when the holder dies, however it dies.
 */
export interface ProjectionLock {
  /** Takes the lock if it is free; undefined when another process holds it. Never waits. */
  tryAcquire(): Promise<ProjectionLease | undefined>;
}
