import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli, spawnServer, startServer } from '../support/cli.js';
import { seedRequest } from '../support/fixtures.js';
import { send } from '../support/http-server.js';

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id: string; name: string; domains: string[] });

describe('npm run instance, beside a running server', () => {
  let dataDir: string;
  let server: ChildProcess;
  let url: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'smtp-instance-cli-'));
    ({ server, url } = await startServer(dataDir));
  });
  afterAll(() => {
    if (server.exitCode === null) server.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('adds an instance that the running server then serves, and refuses its domain to another', async () => {
    const added = runCli(CLI.instance, ['add', '--name', 'Acme', '--domain', 'Acme.Example.com', '--domain', 'login.acme.example.com'], dataDir);
    expect(added.status, added.stderr).toBe(0);
    const [instance] = jsonLines(added.stdout);
    expect(instance).toEqual({ id: expect.stringMatching(/^\d+$/), name: 'Acme', domains: ['acme.example.com', 'login.acme.example.com'] });

    const token = runCli(CLI.token, ['--instance', 'acme.example.com', '--role', 'IAM_OWNER'], dataDir).stdout.trim();
    const port = new URL(url).port;
    // The server follows the event file; it picks the new instance up within its poll interval.
    let res = await send(url, { method: 'POST', path: '/admin/v1/smtp', host: `acme.example.com:${port}`, body: seedRequest, headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 50 && res.status === 404; i++) {
      await new Promise((r) => setTimeout(r, 100));
      res = await send(url, { method: 'POST', path: '/admin/v1/smtp', host: `acme.example.com:${port}`, body: seedRequest, headers: { authorization: `Bearer ${token}` } });
    }
    expect(res.status, res.text).toBe(200);
    expect(res.json.details.resourceOwner).toBe(instance!.id);

    const taken = runCli(CLI.instance, ['add', '--name', 'Impostor', '--domain', 'ACME.example.com'], dataDir);
    expect(taken.status).toBe(1);
    expect(taken.stderr).toContain('the domain acme.example.com already belongs to another instance');
    expect(taken.stdout).toBe('');
  });

  it('adds one instance per input line, in order, and reports each line it could not take', () => {
    const input = [
      JSON.stringify({ name: 'one', domains: ['one.example.com'] }),
      '{not json',
      JSON.stringify({ name: 'two', domains: ['two.example.com', 'TWO.example.com'] }),
      JSON.stringify({ name: 'dup', domains: ['one.example.com'] }),
      JSON.stringify({ name: 'three' }),
      JSON.stringify({ name: 'four', domains: ['four.example.com'] }),
    ].join('\n');
    const run = runCli(CLI.instance, ['add', '--stdin'], dataDir, input);
    expect(run.status).toBe(1);
    expect(jsonLines(run.stdout).map((i) => [i.name, i.domains])).toEqual([
      ['one', ['one.example.com']],
      ['two', ['two.example.com']],
      ['four', ['four.example.com']],
    ]);
    expect(run.stderr.split('\n').filter(Boolean).map((l) => l.split(':')[0])).toEqual(['line 2', 'line 4', 'line 5']);
    expect(run.stderr).toContain('one.example.com already belongs to another instance');
  });

  it('lists every instance, the first one included', () => {
    const run = runCli(CLI.instance, ['list'], dataDir);
    expect(run.status, run.stderr).toBe(0);
    const names = jsonLines(run.stdout).map((i) => i.name);
    expect(names).toEqual(expect.arrayContaining(['ZITADEL', 'Acme', 'one', 'two', 'four']));
    expect(names).not.toContain('dup');
    expect(jsonLines(run.stdout).find((i) => i.name === 'ZITADEL')!.domains).toEqual(['localhost', '127.0.0.1']);
  });

  it('says how to use it when the command is wrong (exit 2)', () => {
    const run = runCli(CLI.instance, ['add', '--name', 'x'], dataDir);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('usage:');
  });

  it('refuses a second server on the same data directory, naming it', async () => {
    const second = spawnServer(dataDir);
    let stderr = '';
    second.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const code = await new Promise<number | null>((r) => second.on('exit', r));
    expect(code).toBe(1);
    expect(stderr).toContain(`the data directory ${dataDir} is in use by another server`);
  });
});
