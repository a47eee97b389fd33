// Helpers shared by the benchmarks: medians, temporary data directories, number formatting.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export const envNumber = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
};

const leftovers = new Set<string>();
process.once('exit', () => {
  for (const dir of leftovers) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory under the OS temp dir; removed by the returned function, or when the process exits. */
export const tempDir = (label: string): { dir: string; remove: () => void } => {
  const dir = mkdtempSync(join(tmpdir(), `smtp-bench-${label}-`));
  leftovers.add(dir);
  const remove = () => {
    rmSync(dir, { recursive: true, force: true });
    leftovers.delete(dir);
  };
  return { dir, remove };
};

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
