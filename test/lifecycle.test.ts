// The life of a `mosaic` process, seen from outside: it refuses bad configuration and bad
// commands with a clear line, drains the requests in flight on SIGTERM and exits 0, and gives
// up at once on a second signal.
import { describe, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { join } from 'node:path'
import { cli, runNode, spawnNode, logLines, tempDataDir, type Child } from './process.ts'
import { topology } from '../src/runtime/topology.ts'

const slowNode = join(import.meta.dirname, 'fixtures', 'slow-node.ts')
const baseEnv = { PORT: '0', LOG_PRETTY: 'false', LOG_LEVEL: 'info', CATALOG_SEED_DEMO: 'false' }

type Answer = { status: number; type: string | undefined } | { error: string }

/** A GET on a connection of its own (fetch could reuse one), answered or not. */
function probe(url: string): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false }, (res) => {
      res.resume().on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'] }))
    })
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
    req.end()
  })
}

/** The slow-node fixture with a request to `path` in flight (its handler has logged that it started). */
async function withRequestInFlight(
  t: TestContext,
  path: string,
): Promise<{ child: Child; inFlight: Promise<Response> }> {
  const child = await spawnNode([slowNode], { ...baseEnv, DATA_DIR: await tempDataDir(t) })
  t.after(() => child.kill())
  const inFlight = fetch(new URL(path, child.url))
  inFlight.catch(() => {}) // some tests expect it to fail; they await it themselves
  await child.waitFor(/"msg":"sleeping"/)
  return { child, inFlight }
}

test('a bad configuration value stops the process with one line naming the variable', {
  concurrency: true,
}, async (t) => {
  const cases: [args: string[], variable: string, value: string][] = [
    [['start'], 'PORT', 'abc'],
    [['start'], 'CALL_TIMEOUT_MS', '1.5'],
    [['start'], 'DATABASE_URL', 'mysql://x'],
    [['start'], 'LOG_LEVEL', 'loud'],
    [['start'], 'CATALOG_SERVICE_URL', 'localhost:3001'],
    [['start'], 'CATALOG_LOW_STOCK_THRESHOLD', '-1'], // a service's own variable
    [['start'], 'AUTH_ACCESS_TOKEN_TTL', '5'], // ... of the service that starts first
    [['serve', 'catalog'], 'CATALOG_SERVICE_PORT', 'abc'],
  ]
  await Promise.all(
    cases.map(([args, variable, value]) =>
      t.test(`${args.join(' ')} with ${variable}=${value}`, async () => {
        const { code, stdout, stderr } = await runNode([cli, ...args], {
          ...baseEnv,
          DATA_DIR: ':memory:',
          [variable]: value,
        })
        assert.equal(code, 1)
        assert.equal(stderr.split('\n').length, 2, `one line:\n${stderr}`)
        assert.ok(stderr.startsWith(`mosaic: invalid configuration: ${variable} `), stderr)
        assert.ok(stderr.endsWith(` (got ${JSON.stringify(value)})\n`), stderr)
        assert.equal(stdout, '', 'nothing started, so nothing logged')
      }),
    ),
  )
})

test('an unknown command or service is a usage error; help is not', { concurrency: true }, async (t) => {
  const usage = /^Usage: mosaic <command>$/m
  await Promise.all([
    t.test('unknown command', async () => {
      const { code, stderr } = await runNode([cli, 'frobnicate'], {})
      assert.equal(code, 1)
      assert.match(stderr, /^mosaic: unknown command frobnicate\n/)
      assert.match(stderr, usage)
    }),
    t.test('unknown service', async () => {
      const { code, stderr } = await runNode([cli, 'serve', 'nosuch'], {})
      assert.equal(code, 1)
      assert.ok(
        stderr.startsWith(
          `mosaic: serve: name one of ${topology.map((s) => s.definition.contract.name).join(', ')}, or gateway\n`,
        ),
        stderr,
      )
      assert.match(stderr, usage)
    }),
    t.test('help', async () => {
      const { code, stdout, stderr } = await runNode([cli, 'help'], {})
      assert.equal(code, 0)
      assert.match(stdout, usage)
      assert.match(stdout, /^ {2}serve <service>\|gateway /m)
      assert.equal(stderr, '')
    }),
  ])
})

// The two signal tests each run a process of their own, side by side.
describe('signals', { concurrency: true }, () => {
  test('SIGTERM: readiness off, no new connections, the request in flight completes, exit 0', {
    timeout: 20_000,
  }, async (t) => {
    // fetch keeps its connection alive: the shutdown must not wait for the client to let go of it.
    const { child, inFlight } = await withRequestInFlight(t, '/api/sleep?ms=1000')
    const exited = child.kill('SIGTERM')
    await child.waitFor(/"msg":"shutting down"/)

    // A new connection is refused (or cut before its request is read), or is told 503.
    const ready = await probe(new URL('/health/ready', child.url).href)
    if ('error' in ready) assert.ok(['ECONNREFUSED', 'ECONNRESET'].includes(ready.error), ready.error)
    else assert.deepEqual([ready.status, ready.type], [503, 'application/health+json; charset=utf-8'])

    const response = await inFlight
    assert.equal(response.status, 200)
    assert.deepEqual(await response.json(), { slept: 1000 })
    assert.equal(response.headers.get('connection'), 'close', 'answered while draining: the connection is not kept')
    const answered = Date.now()
    assert.equal(await exited, 0)
    assert.ok(Date.now() - answered < 5000, `exited ${Date.now() - answered} ms after the last answer`)
    assert.deepEqual(
      logLines(child.output())
        .map((l) => l.msg)
        .slice(-2),
      ['shutting down', 'stopped'],
    )
  })

  test('a second signal during a slow shutdown exits at once', async (t) => {
    const { child, inFlight } = await withRequestInFlight(t, '/api/sleep?ms=10000')
    child.process.kill('SIGINT')
    await child.waitFor(/"msg":"shutting down"/)
    const started = Date.now()
    assert.equal(await child.kill('SIGTERM'), 130)
    assert.ok(Date.now() - started < 3000, `exited after ${Date.now() - started} ms, not at once`)
    assert.match(child.output(), /"msg":"second signal: exiting now"/)
    await assert.rejects(inFlight, 'the request in flight is cut off, not answered')
  })
})
