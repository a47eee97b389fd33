import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, node, ROOT, runCli } from '../support/cli.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('instance add --stdin interrupted with Ctrl-C', () => {
  it('prints every instance it created, exits 130, and a run on the lines it did not read completes the set', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'smtp-instance-int-'));
    dirs.push(dataDir);
    const total = 20_000;
    const input = Array.from({ length: total }, (_, i) => JSON.stringify({ name: `T${i}`, domains: [`t${i}.example.com`] }));
    const [cmd, pre] = node(CLI.smtpConfig);
    const child = spawn(cmd, [...pre, 'instance', 'add', '--stdin'], { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.stdin.on('error', () => undefined); // it stops reading when interrupted
    child.stdin.end(`${input.join('\n')}\n`);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const until = Date.now() + 60_000;
    while (stdout.split('\n').length < 200 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(130);
    expect(stderr).toContain('interrupted');

    const printed = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; name: string });
    expect(printed.length).toBeGreaterThan(0);
    expect(printed.length).toBeLessThan(total);
    const listed = runCli(CLI.smtpConfig, ['instance', 'list'], dataDir);
    expect(listed.status, listed.stderr).toBe(0);
    const created = listed.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string });
    expect(new Set(printed.map((p) => p.id))).toEqual(new Set(created.map((c) => c.id)));
    // Printed in input order, with no gap: the rest of the input is the lines after the last printed one.
    expect(printed.map((p) => p.name)).toEqual(input.slice(0, printed.length).map((l) => (JSON.parse(l) as { name: string }).name));

    const rest = runCli(CLI.smtpConfig, ['instance', 'add', '--stdin'], dataDir, `${input.slice(printed.length).join('\n')}\n`);
    expect(rest.status, rest.stderr).toBe(0);
    expect(rest.stdout.split('\n').filter(Boolean)).toHaveLength(total - printed.length);
  }, 120_000);
});
