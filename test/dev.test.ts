// `mosaic dev` restarts the system when a source file changes. It runs on a copy of the sources
// (src/, policies/, bin/, package.json; node_modules linked), so that the test can change a file
// without touching the checkout that other tests load. The system it runs is real: `mosaic start`
// on PGlite, whose JSON log says `mosaic ready` with its address each time it is up; its pid is
// the youngest of mosaic dev's descendants (dev → node --watch → the system), from Linux's /proc.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { appendFile, cp, mkdtemp, readFile, readdir, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnNode, logLines } from './process.ts'

const root = join(import.meta.dirname, '..')

/** The addresses of the `mosaic ready` lines so far: each start of the system, in order. */
const readyUrls = (output: string): string[] =>
  logLines(output)
    .filter((line) => line.msg === 'mosaic ready')
    .map((line) => line.url as string)

/** The processes `pid` started, and theirs, deepest last. */
async function descendants(pid: number): Promise<number[]> {
  const children: number[] = []
  for (const task of await readdir(`/proc/${pid}/task`).catch(() => [])) {
    const text = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')
    children.push(...text.split(' ').filter(Boolean).map(Number))
  }
  const below = await Promise.all(children.map(descendants))
  return [...children, ...below.flat()]
}
const systemPid = async (devPid: number): Promise<number | undefined> => (await descendants(devPid)).at(-1)

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

test('mosaic dev restarts the system when a source file changes, and stops it on SIGTERM', {
  timeout: 180_000,
}, async (t) => {
  const copy = await mkdtemp(join(tmpdir(), 'mosaic-dev-'))
  t.after(() => rm(copy, { recursive: true, force: true }))
  for (const part of ['src', 'policies', 'bin', 'package.json', 'tsconfig.json'])
    await cp(join(root, part), join(copy, part), { recursive: true })
  await symlink(join(root, 'node_modules'), join(copy, 'node_modules'))

  const dev = await spawnNode(
    [join(copy, 'src', 'cli', 'mosaic.ts'), 'dev'],
    { PORT: '0', DATA_DIR: join(copy, 'data'), LOG_LEVEL: 'info', LOG_PRETTY: 'false' },
    120_000,
  )
  // Should an assertion fail, nothing may be left running: SIGKILL is not forwarded, so every descendant gets its own.
  t.after(async () => {
    for (const pid of await descendants(dev.process.pid!)) if (alive(pid)) process.kill(pid, 'SIGKILL')
    await dev.kill('SIGKILL')
  })
  const [firstUrl] = readyUrls(dev.output())
  const first = await systemPid(dev.process.pid!)
  assert.ok(first && firstUrl, `mosaic dev started the system in a process of its own:\n${dev.output()}`)
  assert.equal((await fetch(new URL('/health/ready', firstUrl))).status, 200)

  // A change to a source file: the running system is stopped and a new one started.
  await appendFile(join(copy, 'src', 'kit', 'money.ts'), '\n// changed by test/dev.test.ts\n')
  await dev.waitFor(/"msg":"mosaic ready"[\s\S]*"msg":"mosaic ready"/, 120_000)
  const secondUrl = readyUrls(dev.output())[1]!
  const second = await systemPid(dev.process.pid!)
  assert.ok(second && second !== first, `a new process: ${first} then ${second}`)
  assert.equal(alive(first), false, 'the old one is gone')
  assert.equal((await fetch(new URL('/health/ready', secondUrl))).status, 200)
  assert.equal((await fetch(new URL('/api/products/prod-mouse', secondUrl))).status, 200)

  // SIGTERM to `mosaic dev` stops the system with it: nothing is left running.
  await dev.kill('SIGTERM')
  assert.equal(alive(second), false, 'the system stopped with mosaic dev')
})
