import pg from 'pg';

/**
 * A dedicated connection that LISTENs on the given channels and calls their handler on every
 * notification. If the connection fails it reconnects (with a growing pause) and calls every
 * handler once, since notifications sent meanwhile are lost; the stores poll as well, so a missed
 * notification only delays a reader by one poll interval.
 */
export class PgListener {
  private client: pg.Client | undefined;
  private closed = false;
  private retryMs = 100;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: pg.ClientConfig,
    /** Called with the notification's payload, or with none after a reconnect (anything may have been missed). */
    private readonly handlers: Readonly<Record<string, (payload?: string) => void>>,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client(this.config);
    client.on('error', () => this.reconnect(client));
    client.on('end', () => this.reconnect(client));
    client.on('notification', (n) => this.handlers[n.channel]?.(n.payload));
    try {
      await client.connect();
      for (const channel of Object.keys(this.handlers)) await client.query(`LISTEN "${channel}"`);
      this.client = client;
      this.retryMs = 100;
      for (const handler of Object.values(this.handlers)) handler();
    } catch {
      this.reconnect(client);
    }
  }

  private reconnect(client: pg.Client): void {
    if (this.client === client) this.client = undefined;
    client.removeAllListeners();
    client.on('error', () => undefined);
    void client.end().catch(() => undefined);
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 5_000);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }
}

/** Channel names are identifiers: the schema's name and a suffix. */
export const channelName = (schema: string, what: 'events' | 'checkpoint'): string => `${schema}_${what}`;
