/** What went wrong with a database file, said so that an operator knows what to do. */
export class StoreFileError extends Error {
  override readonly name = 'StoreFileError';
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
