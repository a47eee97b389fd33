import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { progress } from '../../src/infrastructure/cli/progress.js';

/** A terminal as cli-progress sees one, keeping what is drawn. */
const fakeTerminal = () => {
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 200 });
  let drawn = '';
  stream.on('data', (c: Buffer) => (drawn += c.toString('utf8')));
  return { stream: stream as unknown as NodeJS.WriteStream, drawn: () => drawn.replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, '\n') };
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the progress bar on a terminal', () => {
  it('shows an ETA in seconds when the work reports per event, many times with one value (as import does)', async () => {
    const terminal = fakeTerminal();
    const bar = progress('import', { stream: terminal.stream });
    let events = 0;
    // import reads ahead: a batch of events is reported one by one at the same share of the file.
    for (let round = 1; round <= 8; round++) {
      for (let i = 0; i < 200; i++) bar.update(BigInt(round * 100), 1_000n, ++events);
      await sleep(120);
    }
    await sleep(150); // cli-progress redraws on its own timer too
    const etas = [...terminal.drawn().matchAll(/ETA (\S+)/g)].map((m) => m[1]);
    bar.stop();
    expect(etas.length).toBeGreaterThan(3);
    expect(etas.filter((e) => !/^\d+s$/.test(e!))).toEqual([]);
    expect(terminal.drawn()).toMatch(/80% \| 1600 events/);
  });
});

describe('the progress lines when stderr is not a terminal', () => {
  // The clock stands still: every report below comes within the first second.
  beforeEach(() => void vi.useFakeTimers({ toFake: ['Date'] }));
  afterEach(() => void vi.useRealTimers());
  const pipe = () => {
    const stream = new PassThrough();
    let written = '';
    stream.on('data', (c: Buffer) => (written += c.toString('utf8')));
    return { stream: stream as unknown as NodeJS.WriteStream, lines: () => written.split('\n').filter(Boolean) };
  };

  it('work done within the first second: one line, not the same line again at the end', () => {
    const out = pipe();
    const bar = progress('rebuild', { stream: out.stream });
    bar.update(17n, 17n, 12);
    bar.update(17n, 17n, 12);
    bar.stop();
    expect(out.lines()).toHaveLength(1);
    expect(out.lines()[0]).toMatch(/^rebuild: 12 events, 100%, \d+ events\/s$/);
  });

  it('reports after the first line that it has not shown yet are shown once at the end', () => {
    const out = pipe();
    const bar = progress('rebuild', { stream: out.stream });
    bar.update(4n, 17n, 3);
    bar.update(10n, 17n, 8);
    bar.update(17n, 17n, 12);
    bar.stop();
    expect(out.lines().map((l) => l.replace(/, \d+ events\/s$/, ''))).toEqual(['rebuild: 3 events, 23.5%', 'rebuild: 12 events, 100%']);
  });
});
