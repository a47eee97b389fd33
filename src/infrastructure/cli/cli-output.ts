// What every smtp-config command shares: exit codes, result output, usage errors. Loads nothing else,
// so `smtp-config --help` needs only commander.

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

export interface Output {
  readonly json: boolean;
  /** A result: JSON with --json, else the text. */
  result(value: unknown, text: string): void;
}

export const output = (json: boolean): Output => ({
  json,
  result: (value, text) => process.stdout.write(json ? `${canonicalJsonLine(value)}` : `${text}\n`),
});

const canonicalJsonLine = (value: unknown) => `${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`;

/** Raised for what the user asked wrongly (exit 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
