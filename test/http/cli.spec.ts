import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, node, ROOT, startServer } from '../support/cli.js';
import { seedRequest } from '../support/fixtures.js';
import { send } from '../support/http-server.js';

const START = CLI.start;
const TOKEN = CLI.token;

describe('the command-line entry points', () => {
  let dataDir: string;
  let server: ChildProcess;
  let url: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'smtp-cli-'));
    ({ server, url } = await startServer(dataDir));
  });
  afterAll(() => {
    if (server.exitCode === null) server.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('start, then token, then the seed’s curl example answers 200; SIGTERM stops it cleanly', async () => {
    const [cmd, args] = node(TOKEN);
    const issued = spawnSync(cmd, [...args, '--instance', 'localhost', '--role', 'IAM_OWNER'], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir }, encoding: 'utf8' });
    expect(issued.status, issued.stderr).toBe(0);
    const token = issued.stdout.trim();
    expect(token.split('.')).toHaveLength(3);

    const res = await send(url, { method: 'POST', path: '/admin/v1/smtp', host: `localhost:${new URL(url).port}`, body: seedRequest, headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.json.details.sequence).toBe('4'); // instance.added + two domains + the configuration

    const noRole = spawnSync(cmd, [...args, '--instance', 'localhost'], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir }, encoding: 'utf8' });
    const denied = await send(url, { method: 'POST', path: '/admin/v1/smtp', body: seedRequest, headers: { authorization: `Bearer ${noRole.stdout.trim()}` } });
    expect([denied.status, denied.json.code]).toEqual([403, 7]);

    const exited = new Promise<number | null>((r) => server.on('exit', (code) => r(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('refuses to start on a bad configuration value, naming the variable (exit 2)', () => {
    const [cmd, args] = node(START);
    const run = spawnSync(cmd, args, { cwd: ROOT, env: { ...process.env, PORT: 'eighty', DATA_DIR: dataDir }, encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/invalid configuration:\n\s+PORT:/);
  });

  it('token refuses an instance that does not exist', () => {
    const [cmd, args] = node(TOKEN);
    const run = spawnSync(cmd, [...args, '--instance', 'nowhere.example.com', '--role', 'IAM_OWNER'], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir }, encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('no instance');
  });
});
