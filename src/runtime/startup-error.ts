import type { Engine } from '../kit/db/database.ts'
import { withoutPassword } from '../kit/config.ts'

/**
 * A process that cannot start for a reason outside the code (a port taken, a database out of
 * reach, a directory it may not write, a data directory another process holds): the `mosaic`
 * command prints the message as one line and exits 1, so it must say what failed and what to do.
 */
export class StartupError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'StartupError'
  }
}

/** The listen failure of a server on `port`, set by `variable`, said in one line. */
export function listenError(error: unknown, variable: string, port: number, host: string): unknown {
  const code = (error as { code?: string }).code
  if (code === 'EADDRINUSE')
    return new StartupError(
      `port ${port} on ${host} is already in use (${variable}): stop the process using it, or set ${variable} to a free port`,
      { cause: error },
    )
  if (code === 'EACCES')
    return new StartupError(
      `port ${port} on ${host} needs privileges this process lacks (${variable}): use a port above 1023`,
      { cause: error },
    )
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
    return new StartupError(`cannot listen on ${host}: no such local address (HOST)`, { cause: error })
  return error
}

/** The PostgreSQL engine at DATABASE_URL once it has answered a query; closed, and said in one line, if it cannot. */
export async function reachable(engine: Engine, url: string): Promise<Engine> {
  try {
    await engine.admin.query('select 1')
    return engine
  } catch (error) {
    await engine.close().catch(() => {})
    throw new StartupError(
      `cannot use the database at DATABASE_URL ${withoutPassword(url)} (${(error as Error).message}): start PostgreSQL there, or correct DATABASE_URL`,
      { cause: error },
    )
  }
}
