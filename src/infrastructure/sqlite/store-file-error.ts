/** What went wrong with a database file, said so that an operator knows what to do. */
export class StoreFileError extends Error {
  override readonly name = 'StoreFileError';
  /** The file is not a readable database any more (garbage, truncated, corrupt), as opposed to one of another version or one that cannot be reached. */
  readonly damaged: boolean;
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown; damaged?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.damaged = options?.damaged ?? false;
  }
}
