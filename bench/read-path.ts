// The read path through the embedded gateway (`mosaic start`, PGlite), each figure beside its peer
// measured in the same run (issue 12):
//   uncached GET /api/products/prod-mouse  vs  plain Fastify + PGlite doing the same read (bench/peers/fastify-pglite.ts)
//   cached   GET /api/products/prod-mouse  vs  Moleculer + moleculer-web answering a constant (bench/peers/moleculer-constant.ts)
//   GET /api/users/me with a bearer token  vs  the uncached public read
// One server at a time, pinned to core 0; autocannon here, on the other core.
// Run with `node bench/read-path.ts`; BENCH_DURATION (s), BENCH_CONNECTIONS tune it.
import { cpus } from 'node:os'
import autocannon from 'autocannon'
import { spawnReady, printTable, runBench, type Child, type Cleanup } from './children.ts'

const duration = Number(process.env.BENCH_DURATION ?? 5)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)
const warmup = 1
const product = '/api/products/prod-mouse'

interface Run { req: number, p50: number, p99: number, bad: number }

async function load(url: string, headers: Record<string, string> = {}): Promise<Run> {
  await autocannon({ url, connections, duration: warmup, headers })
  const r = await autocannon({ url, connections, duration, headers })
  return { req: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, bad: r.errors + r.timeouts + r.non2xx }
}

async function expectOk(url: string, headers: Record<string, string> = {}): Promise<void> {
  const response = await fetch(url, { headers })
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`)
}

/** Starts `start()`, measures each of `paths`, stops it: one server on the core at a time. */
async function measure(start: () => Promise<Child>, paths: { path: string, headers?: () => Promise<Record<string, string>> }[]): Promise<Run[]> {
  const child = await start()
  try {
    const runs: Run[] = []
    for (const { path, headers } of paths) {
      const h = headers ? await headers() : {}
      await expectOk(child.url + path, h)
      runs.push(await load(child.url + path, h))
    }
    return runs
  } finally {
    await child.stop()
  }
}

async function bearer(url: string): Promise<Record<string, string>> {
  const body = { email: `bench-${Date.now()}@mosaic.test`, password: 'a long bench passphrase 12345', name: 'Bench' }
  const post = (path: string, json: object): Promise<Response> => fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) })
  if ((await post('/api/users', body)).status !== 201) throw new Error('could not register')
  const login = await post('/api/users/login', { email: body.email, password: body.password })
  return { authorization: `Bearer ${(await login.json() as { accessToken: string }).accessToken}` }
}

async function main(cleanup: Cleanup): Promise<void> {
  const cpu = cpus()
  console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}`)
  console.log(`load: autocannon, ${connections} connections, ${warmup} s warm-up + ${duration} s per figure; server on core 0, load on core ${cpu.length - 1}\n`)

  const [fastify] = await measure(() => spawnReady('fastify+pglite', [], 'PORT', cleanup, {}, 'bench/peers/fastify-pglite.ts'), [{ path: product }])
  const [moleculer] = await measure(() => spawnReady('moleculer-web', [], 'PORT', cleanup, {}, 'bench/peers/moleculer-constant.ts'), [{ path: product }])
  let gatewayUrl = ''
  const [uncached, me] = await measure(async () => {
    const child = await spawnReady('mosaic (cache off)', ['start'], 'PORT', cleanup, { CACHE_MAX_ENTRIES: '0' })
    gatewayUrl = child.url
    return child
  }, [{ path: product }, { path: '/api/users/me', headers: () => bearer(gatewayUrl) }])
  const [cached] = await measure(() => spawnReady('mosaic', ['start'], 'PORT', cleanup), [{ path: product }])

  const ratio = (a: Run, b: Run): string => `${(a.req / b.req).toFixed(2)}x`
  const row = (label: string, r: Run, peer: string, vs: string, target: string): string[] =>
    [label, String(Math.round(r.req)), String(r.p50), String(r.p99), String(r.bad), peer, vs, target]
  printTable([
    ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'bad', 'peer', 'vs peer', 'target'],
    row('peer: Fastify + PGlite, same read', fastify!, '', '', ''),
    row('peer: Moleculer + moleculer-web, constant', moleculer!, '', '', ''),
    row('mosaic start, GET product, cache off', uncached!, 'Fastify+PGlite', ratio(uncached!, fastify!), '≥ 1.0x'),
    row('mosaic start, GET product, cached', cached!, 'Moleculer', ratio(cached!, moleculer!), '≥ 1.0x, p99 ≤ 5 ms'),
    row('mosaic start, GET /api/users/me (bearer)', me!, 'public read', ratio(me!, uncached!), '≥ 0.8x'),
  ])
}

await runBench(main)
