import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, tempDirs, runCli } from '../support/cli.js';

// A DATA_DIR of an earlier version holds only events.jsonl; the server imports it at its next start.
// A tool run before that must not take the directory for an empty store.
const dirs = tempDirs('smtp-cli-legacy-');
const tempDir = dirs.make;
afterAll(dirs.removeAll);

let source: string;
let legacyLog: string;
beforeAll(() => {
  source = tempDir();
  const added = runCli(CLI.instance, ['add', '--name', 'Acme', '--domain', 'acme.example.com'], source);
  expect(added.status, added.stderr).toBe(0);
  const exported = runCli(CLI.smtpConfig, ['events', 'export'], source);
  expect(exported.status, exported.stderr).toBe(0);
  legacyLog = exported.stdout;
  expect(legacyLog).toContain('acme.example.com');
});

/** A data directory as an earlier version left it: the JSON-lines log and nothing else. */
const legacyDataDir = () => {
  const dir = join(tempDir(), 'data');
  mkdirSync(dir);
  writeFileSync(join(dir, 'events.jsonl'), legacyLog);
  return dir;
};

describe('operator tools on a DATA_DIR whose events.jsonl the server has not imported yet', () => {
  it.each([
    ['smtp-config instance add', CLI.smtpConfig, ['instance', 'add', '--name', 'Other', '--domain', 'acme.example.com']],
    ['npm run instance -- add', CLI.instance, ['add', '--name', 'Other', '--domain', 'acme.example.com']],
    ['smtp-config instance list', CLI.smtpConfig, ['instance', 'list']],
    ['smtp-config token', CLI.smtpConfig, ['token', '--instance', 'acme.example.com']],
    ['smtp-config events import', CLI.smtpConfig, ['events', 'import']],
    ['smtp-config events export', CLI.smtpConfig, ['events', 'export']],
    ['smtp-config projection status', CLI.smtpConfig, ['projection', 'status']],
  ])('%s exits 2 naming the log and the server start that imports it, and writes no store beside it', (_name, script, args) => {
    const dir = legacyDataDir();
    const run = runCli(script, args, dir, '');
    expect(run.status, run.stderr).toBe(2);
    expect(run.stderr).toContain(`${join(dir, 'events.jsonl')} is the event log of an earlier version and is not imported yet`);
    expect(run.stderr).toContain('npm start');
    expect(run.stdout).toBe('');
    expect(existsSync(join(dir, 'events.db'))).toBe(false);
  });

  it('events copy refuses such a directory as its target', () => {
    const target = legacyDataDir();
    const run = runCli(CLI.smtpConfig, ['events', 'copy', '--to', target], source);
    expect(run.status, run.stderr).toBe(2);
    expect(run.stderr).toContain(`${join(target, 'events.jsonl')} is the event log of an earlier version`);
    expect(existsSync(join(target, 'events.db'))).toBe(false);
  });

  it('once the log is imported (moved aside), the tools work on the directory', () => {
    const dir = legacyDataDir();
    writeFileSync(join(dir, 'events.jsonl.imported-1'), legacyLog);
    rmSync(join(dir, 'events.jsonl'));
    const run = runCli(CLI.smtpConfig, ['instance', 'list'], dir);
    expect(run.status, run.stderr).toBe(0);
  });
});
