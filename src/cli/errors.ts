/** Errors the command line shows as one line (exit 1), and the one for a usage mistake (exit 2). */

/** A mistake in how the command was called: printed with the command's usage, exit 2. */
export class UsageError extends Error {}

/** A failure the user fixes by changing a setting or a file: printed as one line, exit 1. */
export class StartupError extends Error {}

/** A listen error as the one line a user acts on. */
export function listenFailure(err: unknown, settings: { PORT: number; HOST: string }): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new StartupError(`port ${settings.PORT} is in use; set PORT`);
  if (code === 'EACCES') return new StartupError(`port ${settings.PORT} needs privileges this process does not have; set PORT (above 1024)`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return new StartupError(`HOST=${settings.HOST} is not an address of this machine; set HOST`);
  return err instanceof Error ? err : new Error(String(err));
}
