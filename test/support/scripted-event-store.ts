import {
  InMemoryEventStore,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type GlobalPosition,
  type NewEvent,
  type ReadStreamResult,
  type SubscribeOptions,
  type SubscriptionItem,
} from './everything.js';

export interface AppendCall {
  readonly streamId: string;
  readonly events: readonly NewEvent[];
  readonly expected: ExpectedRevision;
}

/**
 * An event store test double: an in-memory store underneath, every read and append counted, and a
 * hook that runs before each append reaches the store (to interleave a competing writer, or to fail).
 */
export class ScriptedEventStore implements EventStore {
  readonly inner = new InMemoryEventStore();
  reads = 0;
  readonly appends: AppendCall[] = [];
  beforeAppend: ((call: AppendCall, attempt: number) => Promise<void> | void) | undefined;
  /** The options of every subscription, in order. */
  readonly subscriptions: SubscribeOptions[] = [];

  async readStream(streamId: string): Promise<ReadStreamResult> {
    this.reads++;
    return this.inner.readStream(streamId);
  }

  async appendToStream(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const call = { streamId, events, expected };
    this.appends.push(call);
    await this.beforeAppend?.(call, this.appends.length);
    return this.inner.appendToStream(streamId, events, expected);
  }

  subscribeToAll(options: SubscribeOptions = {}): AsyncIterable<SubscriptionItem> {
    this.subscriptions.push(options);
    return this.inner.subscribeToAll(options);
  }

  headPosition(): Promise<GlobalPosition | undefined> {
    return this.inner.headPosition();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
