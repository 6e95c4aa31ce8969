// The read path through the embedded gateway (`mosaic start`, PGlite), each figure beside its peer
// measured in the same run (issue 12):
//   uncached GET /api/products/prod-mouse  vs  plain Fastify + PGlite doing the same read (bench/peers/fastify-pglite.ts)
//   cached   GET /api/products/prod-mouse  vs  Moleculer + moleculer-web answering a constant (bench/peers/moleculer-constant.ts)
//   GET /api/users/me with a bearer token  vs  the uncached public read
// Servers pinned to core 0; autocannon here, on the other core.
// Run with `node bench/read-path.ts`; BENCH_DURATION (s), BENCH_CONNECTIONS, BENCH_ROUNDS tune it.
import { cpus, loadavg } from 'node:os'
import autocannon from 'autocannon'
import { spawnReady, printTable, runBench, type Cleanup } from './children.ts'

const duration = Number(process.env.BENCH_DURATION ?? 5)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)
const warmup = 1
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const product = '/api/products/prod-mouse'

interface Run {
  req: number
  p50: number
  p99: number
  bad: number
}

async function load(url: string, headers: Record<string, string> = {}): Promise<Run> {
  await autocannon({ url, connections, duration: warmup, headers })
  const r = await autocannon({ url, connections, duration, headers })
  return { req: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, bad: r.errors + r.timeouts + r.non2xx }
}

async function expectOk(url: string, headers: Record<string, string> = {}): Promise<void> {
  const response = await fetch(url, { headers })
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`)
}

async function bearer(url: string): Promise<Record<string, string>> {
  const body = { email: `bench-${Date.now()}@mosaic.test`, password: 'a long bench passphrase 12345', name: 'Bench' }
  const post = (path: string, json: object): Promise<Response> =>
    fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) })
  if ((await post('/api/users', body)).status !== 201) throw new Error('could not register')
  const login = await post('/api/users/login', { email: body.email, password: body.password })
  return { authorization: `Bearer ${((await login.json()) as { accessToken: string }).accessToken}` }
}

async function main(cleanup: Cleanup): Promise<void> {
  const cpu = cpus()
  console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, node ${process.version}`)
  console.log(
    `load: autocannon, ${connections} connections, ${warmup} s warm-up + ${duration} s per figure, best of ${rounds} rounds; servers on core 0, load on core ${cpu.length - 1}`,
  )
  console.log(
    `load average (1 min) before: ${loadavg()[0]!.toFixed(1)} (a busy machine makes every figure lower; the ratios hold better)\n`,
  )

  // Every server is started first and idles while another is measured; rounds alternate between
  // them so that a neighbour's load on a shared machine hits all alike, and each keeps its best.
  const fastify = await spawnReady('fastify+pglite', [], 'PORT', cleanup, {}, 'bench/peers/fastify-pglite.ts')
  const moleculer = await spawnReady('moleculer-web', [], 'PORT', cleanup, {}, 'bench/peers/moleculer-constant.ts')
  const uncached = await spawnReady('mosaic (cache off)', ['start'], 'PORT', cleanup, { CACHE_MAX_ENTRIES: '0' })
  const cached = await spawnReady('mosaic', ['start'], 'PORT', cleanup)
  const token = await bearer(uncached.url)
  const scenarios: Record<string, { url: string; headers?: Record<string, string> }> = {
    fastify: { url: fastify.url + product },
    moleculer: { url: moleculer.url + product },
    uncached: { url: uncached.url + product },
    me: { url: uncached.url + '/api/users/me', headers: token },
    cached: { url: cached.url + product },
  }
  const best: Record<string, Run> = {}
  for (let round = 1; round <= rounds; round++) {
    for (const [name, { url, headers }] of Object.entries(scenarios)) {
      await expectOk(url, headers)
      const run = await load(url, headers)
      if (!best[name] || run.req > best[name].req) best[name] = run
      console.log(`  round ${round} ${name.padEnd(10)} ${Math.round(run.req)} req/s`)
    }
  }
  console.log(`load average (1 min) after: ${loadavg()[0]!.toFixed(1)}`)

  const ratio = (a: Run, b: Run): string => `${(a.req / b.req).toFixed(2)}x`
  const row = (label: string, r: Run, peer: string, vs: string, target: string): string[] => [
    label,
    String(Math.round(r.req)),
    String(r.p50),
    String(r.p99),
    String(r.bad),
    peer,
    vs,
    target,
  ]
  printTable([
    ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'bad', 'peer', 'vs peer', 'target'],
    row('peer: Fastify + PGlite, same read', best.fastify!, '', '', ''),
    row('peer: Moleculer + moleculer-web, constant', best.moleculer!, '', '', ''),
    row(
      'mosaic start, GET product, cache off',
      best.uncached!,
      'Fastify+PGlite',
      ratio(best.uncached!, best.fastify!),
      '≥ 1.0x',
    ),
    row(
      'mosaic start, GET product, cached',
      best.cached!,
      'Moleculer',
      ratio(best.cached!, best.moleculer!),
      '≥ 1.0x, p99 ≤ 5 ms',
    ),
    row('mosaic start, GET /api/users/me (bearer)', best.me!, 'public read', ratio(best.me!, best.uncached!), '≥ 0.8x'),
  ])
}

await runBench(main)
