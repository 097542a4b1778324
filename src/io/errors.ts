/**
 * Errors for malformed files. Every message names the file (when known) and the key / offset / field, so a
 * researcher pointing the toolkit at a damaged or unexpected download knows exactly what to look at.
 */
export class DataFormatError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly key?: string,
  ) {
    super(file ? `${file}${key ? ` [${key}]` : ''}: ${message}` : key ? `[${key}]: ${message}` : message);
    this.name = 'DataFormatError';
  }
}

/** Re-throw any error raised while parsing `file` as a DataFormatError that names it (unless it already does). */
export function withFile<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DataFormatError && err.file) throw err;
    if (err instanceof DataFormatError) throw new DataFormatError(err.message, file);
    // RangeError from DataView / typed arrays on truncated input, or anything else unexpected.
    const msg = err instanceof Error ? err.message : String(err);
    throw new DataFormatError(`corrupt or truncated file (${msg})`, file);
  }
}
