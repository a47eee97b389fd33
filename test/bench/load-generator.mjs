// A child process that loads a server with autocannon, so that the load generator's CPU is not the
// server's event loop. Reads {url, path, connections, body, requests: [{host, token}]} as JSON from
// the file named by argv[2]; every request takes the next {host, token}, so each request addresses
// a different instance. Prints {perSecond, p50, p99, max, ok, non2xx, errors} as one JSON line.
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
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import autocannon from 'autocannon';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let next = 0;
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
gcObserver.observe({ entryTypes: ['gc'] });
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
const cpuAtStart = process.cpuUsage();
const startedAt = performance.now();
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
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
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
