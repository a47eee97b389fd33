import cliProgress from 'cli-progress';

/** Progress of long work on stderr: a bar with rate and ETA on a terminal, a plain line now and then otherwise. */
export interface Progress {
  /** `done` and `total` in the same unit (positions); `events` is what the user counts. */
  update(done: bigint, total: bigint, events: number): void;
  stop(): void;
}

const PLAIN_EVERY_MS = 1_000;
const DRAW_EVERY_MS = 100;

export const progress = (label: string, options: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): Progress => {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { update: () => undefined, stop: () => undefined };
  const started = Date.now();
  const rate = (events: number) => Math.round(events / Math.max((Date.now() - started) / 1000, 0.001));
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream, format: `${label} [{bar}] {percentage}% | {events} events | {rate} events/s | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    let started_ = false;
    // Callers report per event, many in one millisecond with the same value: handed on as they come,
    // such samples fill the ETA's buffer and it shows "NULL". One sample every DRAW_EVERY_MS.
    let lastDraw = 0;
    let pending: { done: bigint; total: bigint; events: number } | undefined;
    const draw = ({ done, total, events }: { done: bigint; total: bigint; events: number }) => {
      const t = Math.max(Number(total), 1);
      if (!started_) {
        bar.start(t, 0, { events: 0, rate: 0 });
        started_ = true;
      }
      bar.setTotal(t);
      bar.update(Math.min(Number(done), t), { events, rate: rate(events) });
      lastDraw = Date.now();
      pending = undefined;
    };
    return {
      update(done, total, events) {
        pending = { done, total, events };
        if (!started_ || Date.now() - lastDraw >= DRAW_EVERY_MS) draw(pending);
      },
      stop() {
        if (pending) draw(pending);
        if (started_) bar.stop();
      },
    };
  }
  let lastLine = 0;
  let last = { done: 0n, total: 0n, events: 0 };
  /** The state the last line showed: stop() ends with a line only when there is more to show. */
  let shown: typeof last | undefined;
  const line = () => {
    const pct = last.total > 0n ? Number((last.done * 1000n) / last.total) / 10 : 100;
    stream.write(`${label}: ${last.events} events, ${Math.min(pct, 100)}%, ${rate(last.events)} events/s\n`);
    lastLine = Date.now();
    shown = last;
  };
  return {
    update(done, total, events) {
      last = { done, total, events };
      if (events > 0 && (lastLine === 0 || Date.now() - lastLine >= PLAIN_EVERY_MS)) line();
    },
    stop() {
      if (last.events > 0 && !(shown && shown.done === last.done && shown.total === last.total && shown.events === last.events)) line();
    },
  };
};
