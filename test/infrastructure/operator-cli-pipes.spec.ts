import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedSqliteStore } from '../bench/seed-sqlite-store.js';
import { CLI, node, ROOT, runCli } from '../support/cli.js';

// smtp-config leaves with process.exit once a command is done. Into a pipe whose reader is slower
// than the command (`| gzip`, `| ssh`), Node still holds part of the output then.
const INSTANCES = 6_000;
let dataDir: string;
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'smtp-cli-pipes-'));
  await seedSqliteStore(dataDir, INSTANCES);
  expect(runCli(CLI.smtpConfig, ['projection', 'status'], dataDir).status).toBe(0);
}, 120_000);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Runs smtp-config with stdout into a pipe nobody reads until the command has exited (or 5 s passed). */
const runIntoSlowReader = async (args: readonly string[]) => {
  const [cmd, pre] = node(CLI.smtpConfig);
  const child = spawn(cmd, [...pre, ...args], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pause();
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stdout.resume();
  const closed = new Promise<void>((resolve) => child.stdout.on('close', () => resolve()));
  const [code] = await Promise.all([exited, closed]);
  return { code, stdout: Buffer.concat(chunks).toString('utf8'), stderr };
};

describe('smtp-config into a pipe with a slow reader', () => {
  it('instance list writes every instance before it exits', async () => {
    const run = await runIntoSlowReader(['instance', 'list']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n').filter(Boolean)).toHaveLength(INSTANCES);
  }, 60_000);

  it('events export into a reader that leaves after the first line (`| head -1`) stops there: exit 0, no error', async () => {
    const [cmd, pre] = node(CLI.smtpConfig);
    const child = spawn(cmd, [...pre, 'events', 'export'], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // The export is megabytes, the pipe holds 64 KiB: the command is still writing when the reader goes.
    const first = await new Promise<string>((resolve) => {
      let buffer = '';
      child.stdout.on('data', (c: Buffer) => {
        buffer += c.toString('utf8');
        if (!buffer.includes('\n')) return;
        child.stdout.destroy();
        resolve(buffer.slice(0, buffer.indexOf('\n')));
      });
    });
    expect(JSON.parse(first)).toMatchObject({ position: '1/1' });
    expect(await exited, stderr).toBe(0);
    expect(stderr).not.toContain('EPIPE');
    expect(stderr).not.toContain('smtp-config:');
  }, 60_000);

  it('events export writes every event, ending with a whole line', async () => {
    const run = await runIntoSlowReader(['events', 'export']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.endsWith('}\n')).toBe(true);
    expect(run.stdout.split('\n').filter(Boolean)).toHaveLength(INSTANCES * 4);
  }, 60_000);
});
