// A child process that loads a server, so that the load generator's CPU is not the server's event
// loop. Reads {url, path, connections, body, requests: [{host, token}], generator} as JSON from the
// file named by argv[2]; every request takes the next {host, token}, so each request addresses a
// different instance. Prints {perSecond, p50, p99, max, ok, non2xx, errors, generator} as one JSON line.
//
// `generator`: 'raw' (default) writes requests built before the clock starts over keep-alive
// connections, one in flight on each, and reads each answer's status line and Content-Length;
// 'autocannon' is autocannon 9 doing the same. autocannon costs 100-240 µs of CPU and about 12
// collections per 4 000 requests here, on the same two cores as the server; raw about 50 µs (mostly
// the socket system calls) and 2-3 collections, so less of the measured time is the generator's.
//
// Throughput and latencies are measured here, not taken from autocannon's result: with `amount`
// autocannon notices the end only at its next 1-second sample tick, so its duration (and any rate
// from it) is rounded up to whole seconds (8 000 requests in 2.1 s and in 2.9 s both read 3.02 s),
// and its latency histogram keeps whole milliseconds. Here: from the start to the last answer, and
// percentiles over every answer's own time (fractions of a millisecond, rounded to 0.1 ms).
//
// An answer's time is taken on this process's event loop, so a pause here (its own garbage
// collection, or the scheduler giving its core to the server) lengthens the times it measures. It
// also prints its own side: its CPU time per request, its collector's pauses (count, total, longest)
// and how late its event loop ran (p99 and max), so that a tail can be told apart from the server's.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const mode = job.generator ?? 'raw';
const body = JSON.stringify(job.body);
const times = new Float64Array(job.requests.length);
let answered = 0;
let lastAnswerAt = 0;
let gcCount = 0;
let gcMs = 0;
let gcMax = 0;
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcCount++;
    gcMs += e.duration;
    if (e.duration > gcMax) gcMax = e.duration;
  }
});

/**
 * autocannon 9: builds every request anew through setupRequest (each has its own Host and token)
 * and hands every answer to a 'response' listener; about 100 µs of CPU a request here.
 */
const withAutocannon = async () => {
  const { default: autocannon } = await import('autocannon');
  let next = 0;
  const instance = autocannon({
    url: job.url,
    connections: job.connections,
    amount: job.requests.length,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: job.path,
        setupRequest(req) {
          const r = job.requests[next++ % job.requests.length];
          return { ...req, body, headers: { host: r.host, 'content-type': 'application/json', authorization: `Bearer ${r.token}` } };
        },
      },
    ],
  });
  instance.on('response', (_client, _statusCode, _bytes, responseTime) => {
    if (answered < times.length) times[answered] = responseTime;
    answered++;
    lastAnswerAt = performance.now();
  });
  const result = await instance;
  return { ok: result['2xx'], non2xx: result.non2xx, errors: result.errors + result.timeouts };
};

/**
 * The same requests over `connections` keep-alive HTTP/1.1 connections, one request at a time on
 * each, written from buffers built before the clock starts and answered by reading the status line
 * and Content-Length: the generator's own CPU and garbage per request are a small fraction of
 * autocannon's, so that its pauses and its share of the two cores lengthen the measured times less.
 * Any answer it cannot read (no Content-Length, a closed connection) counts as an error.
 */
const wire =
  mode === 'autocannon'
    ? []
    : job.requests.map((r) =>
        Buffer.from(
          `POST ${job.path} HTTP/1.1\r\nhost: ${r.host}\r\ncontent-type: application/json\r\nauthorization: Bearer ${r.token}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        ),
      );
const withRawSockets = () =>
  new Promise((resolve) => {
    const url = new URL(job.url);
    let next = 0;
    let ok = 0;
    let non2xx = 0;
    let errors = 0;
    let open = job.connections;
    const HEAD_END = Buffer.from('\r\n\r\n');
    const finish = () => {
      if (--open === 0) resolve({ ok, non2xx, errors });
    };
    for (let c = 0; c < job.connections; c++) {
      const socket = connect({ host: url.hostname, port: Number(url.port), noDelay: true });
      let sentAt = 0;
      let pending = null;
      let done = false;
      const send = () => {
        if (next >= wire.length) {
          done = true;
          socket.end();
          return;
        }
        const w = wire[next++];
        sentAt = performance.now();
        socket.write(w);
      };
      socket.on('connect', send);
      socket.on('data', (chunk) => {
        const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
        const headEnd = buf.indexOf(HEAD_END);
        if (headEnd < 0) {
          pending = buf;
          return;
        }
        const head = buf.toString('latin1', 0, headEnd);
        const m = /\r\ncontent-length: *(\d+)/i.exec(head);
        if (!m) {
          errors++;
          socket.destroy();
          return;
        }
        const total = headEnd + 4 + Number(m[1]);
        if (buf.length < total) {
          pending = buf;
          return;
        }
        pending = null;
        const now = performance.now();
        if (answered < times.length) times[answered] = now - sentAt;
        answered++;
        lastAnswerAt = now;
        const status = Number(head.slice(9, 12));
        if (status >= 200 && status < 300) ok++;
        else non2xx++;
        send();
      });
      socket.on('error', () => {
        errors++;
      });
      socket.on('close', () => {
        if (!done) errors++;
        finish();
      });
    }
  });

gcObserver.observe({ entryTypes: ['gc'] });
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
const cpuAtStart = process.cpuUsage();
const startedAt = performance.now();
const result = mode === 'autocannon' ? await withAutocannon() : await withRawSockets();

const cpu = process.cpuUsage(cpuAtStart);
loopDelay.disable();
gcObserver.disconnect();
const ms = (ns) => Math.round(ns / 1e5) / 10;
const sorted = times.subarray(0, Math.min(answered, times.length)).sort();
const at = (q) => (sorted.length === 0 ? NaN : Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] * 10) / 10);
process.stdout.write(
  JSON.stringify({
    perSecond: answered / ((lastAnswerAt - startedAt) / 1000),
    p50: at(0.5),
    p99: at(0.99),
    max: at(1),
    ok: result.ok,
    non2xx: result.non2xx,
    errors: result.errors,
    generator: {
      cpuPerRequestUs: Math.round((cpu.user + cpu.system) / Math.max(1, answered)),
      gcCount,
      gcMs: Math.round(gcMs * 10) / 10,
      gcMaxMs: Math.round(gcMax * 10) / 10,
      loopDelayP99Ms: ms(loopDelay.percentile(99)),
      loopDelayMaxMs: ms(loopDelay.max),
    },
  }) + '\n',
);
