import { DeadlineExceededError, type StreamingRead } from '@eventstore/db-client';

/**
 * Reads a read call to its end, or cancels it after `deadlineMs`. The client (6.2.1) gives reads no
 * deadline of their own, and leaving a `for await` early leaves the gRPC call open (and the
 * client's dispose() waiting on it), so this reads every page and cancels the call itself.
 */
export const readToEnd = <E>(read: StreamingRead<E>, deadlineMs: number): Promise<E[]> =>
  new Promise<E[]>((resolve, reject) => {
    const items: E[] = [];
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      settle(() => reject(new DeadlineExceededError(undefined, `the read took longer than ${deadlineMs} ms`)));
      void read.cancel().finally(() => read.destroy());
    }, deadlineMs);
    read.on('data', (item: E) => items.push(item));
    read.on('end', () => settle(() => resolve(items)));
    read.on('error', (error: Error) => settle(() => reject(error)));
  });
