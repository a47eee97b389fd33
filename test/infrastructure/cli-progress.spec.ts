import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
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
