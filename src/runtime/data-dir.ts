// The embedded database's directory: created with a clear error when it cannot be, and held by
// one process at a time. PGlite is a single-user PostgreSQL: a second process on the same files
// would either fail late (after opening them) or, for a short command, write changes that the
// running system never sees and later overwrites.
import { link, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { hostname } from 'node:os'
import { StartupError } from './startup-error.ts'

/**
 * `mkdir -p`, one level at a time. Written out because Node's own recursive mkdir never returns
 * for a path under /proc (it retries the ENOENT it gets there forever): DATA_DIR=/proc/x hung.
 */
async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST' && (await stat(dir)).isDirectory()) return
    if (code !== 'ENOENT' || dirname(dir) === dir) throw error
    await makeDirectory(dirname(dir))
    await mkdir(dir).catch((again: NodeJS.ErrnoException) => {
      if (again.code !== 'EEXIST') throw again
    })
  }
}

/** Creates `dir` (and its parents), or says in one line why it cannot be. */
export async function createDataDir(dir: string): Promise<void> {
  try {
    await makeDirectory(dir)
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException
    throw new StartupError(
      `cannot create the data directory ${dir} (${code ?? message}): set DATA_DIR to a directory this user may write, or ":memory:"`,
      { cause: error },
    )
  }
}

export interface DataDirLock {
  release(): Promise<void>
}

interface Holder {
  pid: number
  host: string
  command: string
}

/** Whether a process with this pid exists (owned by anyone). */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0) // signal 0: only asks whether the process exists
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' // exists, owned by someone else
  }
}

/**
 * Takes `<dir>.lock`, a file holding the pid, host and command of the process that holds the
 * database at `dir`. A lock whose process is gone (killed with SIGKILL, a crash) is stale and is
 * taken over; a live holder is named in the error, and the caller exits without opening anything.
 */
export async function lockDataDir(dir: string, command = process.argv.slice(2).join(' ')): Promise<DataDirLock> {
  const path = `${resolve(dir)}.lock`
  const mine: Holder = { pid: process.pid, host: hostname(), command: `mosaic ${command}`.trim() }
  // Written whole under a name of its own, then linked into place: link() fails if the lock exists
  // (the atomic step), and nobody ever reads a lock file that is still being written.
  const draft = `${path}.${process.pid}`
  await writeFile(draft, JSON.stringify(mine))
  try {
    return await takeLock(path, draft, mine, dir)
  } finally {
    await rm(draft, { force: true })
  }
}

async function takeLock(path: string, draft: string, mine: Holder, dir: string): Promise<DataDirLock> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await link(draft, path)
      return {
        async release() {
          const holder = await readHolder(path)
          if (holder?.pid === mine.pid) await rm(path, { force: true })
        },
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const holder = await readHolder(path)
    // Another host's pid means nothing here (a shared volume): such a lock is never taken over.
    if (holder && (holder.host !== mine.host || alive(holder.pid))) {
      throw new StartupError(
        `the data directory ${dir} is in use by \`${holder.command}\` (pid ${holder.pid}${holder.host === mine.host ? '' : ` on ${holder.host}`}): stop it first, or use another DATA_DIR`,
      )
    }
    // Stale (or not a lock of ours): removed, and tried again. Two processes that both found the
    // same stale lock could each remove it, the second removing the first's new lock; that needs a
    // crash and two starts within microseconds of each other, which a pid file cannot rule out.
    await rm(path, { force: true })
  }
  throw new StartupError(`could not take the lock ${path}: remove it if no Mosaic process uses ${dir}`)
}

async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    const holder = JSON.parse(await readFile(path, 'utf8')) as Holder
    return Number.isInteger(holder.pid) ? holder : undefined
  } catch {
    return undefined
  }
}
