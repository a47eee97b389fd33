// A child process that loads a server with autocannon, so that the load generator's CPU is not the
// server's event loop. Reads {url, path, connections, body, requests: [{host, token}]} as JSON from
// the file named by argv[2]; every request takes the next {host, token}, so each request addresses
// a different instance. Prints {perSecond, p50, p99, non2xx, errors} as one JSON line.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let next = 0;
const body = JSON.stringify(job.body);
const result = await autocannon({
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
const seconds = result.duration;
process.stdout.write(
  JSON.stringify({
    perSecond: (result['2xx'] + result.non2xx) / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  }) + '\n',
);
