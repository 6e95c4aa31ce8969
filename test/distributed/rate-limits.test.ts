// Rate limits shared in Redis by two gateway processes, and what happens when Redis goes away
// under load (a private redis-server on a port of its own, stopped and started again): every
// request is still answered, each gateway says so once, and sharing resumes when Redis returns.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cli, spawnNode, spawnNodes, logLines, closedPort, type Child } from '../process.ts'

const redisPort = await closedPort()
let redis: ChildProcess | undefined
async function startRedis(): Promise<void> {
  redis = spawn(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let output = ''
  redis.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  while (!/Ready to accept connections/.test(output)) await sleep(20)
}
async function stopRedis(): Promise<void> {
  if (!redis || redis.exitCode !== null) return
  const exited = once(redis, 'exit')
  redis.kill('SIGKILL')
  await exited
}

const dataDir = await mkdtemp(join(tmpdir(), 'mosaic-limits-'))
const gateways: Child[] = []
after(async () => {
  for (const gateway of gateways) await gateway.kill('SIGKILL')
  await stopRedis()
  await rm(dataDir, { recursive: true, force: true })
})

const get = (gateway: Child, client: string) =>
  fetch(new URL('/api/products/prod-mouse', gateway.url), { headers: { 'x-forwarded-for': client } })

test('two gateways share one allowance in Redis; Redis stopped and started under load fails no request', async () => {
  await startRedis()
  const env = {
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    RATE_LIMIT_MAX: '50',
    TRUST_PROXY: 'true',
    PORT: '0',
    LOG_LEVEL: 'info',
    LOG_PRETTY: 'false',
  }
  gateways.push(
    ...(await spawnNodes(
      ['a', 'b'].map((name) => spawnNode([cli, 'start'], { ...env, DATA_DIR: join(dataDir, name) }, 120_000)),
    )),
  )
  const [a, b] = gateways as [Child, Child]

  // One client, fifty requests split over both gateways: the allowance is spent, wherever it was asked.
  const shared = async (client: string): Promise<void> => {
    for (let i = 0; i < 50; i++) {
      const res = await get(i % 2 ? b : a, client)
      await res.arrayBuffer()
      assert.equal(res.status, 200, `request ${i + 1}`)
      assert.equal(res.headers.get('ratelimit-remaining'), String(49 - i))
    }
    const refused = await get(a, client)
    assert.equal(refused.status, 429)
    assert.equal(refused.headers.get('content-type'), 'application/problem+json; charset=utf-8')
    assert.ok(Number(refused.headers.get('retry-after')) >= 1)
    assert.equal(refused.headers.get('ratelimit-limit'), '50')
  }
  await shared('10.0.0.1')

  // Load from many clients (a fresh address each request) on both gateways while Redis goes away and comes back.
  const statuses = new Map<number, number>()
  let running = true
  let n = 0
  const clients = Array.from({ length: 4 }, async (_, c) => {
    while (running) {
      const res = await get(c % 2 ? b : a, `10.1.${Math.floor(n / 250)}.${n++ % 250}`).catch(() => undefined)
      await res?.arrayBuffer()
      statuses.set(res?.status ?? 0, (statuses.get(res?.status ?? 0) ?? 0) + 1)
    }
  })
  try {
    await sleep(300)
    await stopRedis()
    await Promise.all([a, b].map((g) => g.waitFor(/Redis is unreachable/)))
    await sleep(1_000)
    await startRedis()
    await Promise.all([a, b].map((g) => g.waitFor(/Redis is back/, 15_000)))
    await sleep(300)
  } finally {
    running = false
    await Promise.all(clients)
  }
  assert.deepEqual(
    [...statuses.keys()],
    [200],
    `every request answered 200: ${JSON.stringify(Object.fromEntries(statuses))}`,
  )

  for (const gateway of [a, b]) {
    const lines = logLines(gateway.output())
    // (The read cache, which shares REDIS_URL, says so too, in its own words: cache: Redis is …)
    assert.equal(
      lines.filter((l) => /^Redis is unreachable/.test(String(l.msg))).length,
      1,
      'the fall-back is logged once',
    )
    assert.equal(lines.filter((l) => /^Redis is back/.test(String(l.msg))).length, 1)
  }
  // Shared again: a new client's allowance spans both gateways.
  await shared('10.0.0.2')
})
