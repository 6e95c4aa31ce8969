// The read path through the embedded gateway (`mosaic start`, PGlite), each figure beside its peer
// measured in the same run (issue 12):
//   uncached GET /api/products/prod-mouse  vs  plain Fastify + PGlite doing the same read (bench/peers/fastify-pglite.ts)
//   cached   GET /api/products/prod-mouse  vs  Moleculer + moleculer-web answering a constant (bench/peers/moleculer-constant.ts)
//   GET /api/users/me with a bearer token  vs  the uncached public read
// Servers pinned to core 0; autocannon here, on the other core.
// Run with `node bench/read-path.ts`; BENCH_DURATION (s), BENCH_CONNECTIONS, BENCH_ROUNDS tune it.
import { loadavg } from 'node:os'
import { spawnReady, printTable, runBench, type Cleanup } from './children.ts'
import { bestOfRounds, describeMachine, expectOk, type LoadOptions, type Run } from './load.ts'

const options: LoadOptions = {
  duration: Number(process.env.BENCH_DURATION ?? 5),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
  warmup: 1,
}
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const product = '/api/products/prod-mouse'

async function bearer(url: string): Promise<Record<string, string>> {
  const body = { email: `bench-${Date.now()}@mosaic.test`, password: 'a long bench passphrase 12345', name: 'Bench' }
  const post = (path: string, json: object): Promise<Response> =>
    fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) })
  if ((await post('/api/users', body)).status !== 201) throw new Error('could not register')
  const login = await post('/api/users/login', { email: body.email, password: body.password })
  return { authorization: `Bearer ${((await login.json()) as { accessToken: string }).accessToken}` }
}

async function main(cleanup: Cleanup): Promise<void> {
  console.log(describeMachine())
  console.log(
    `load: autocannon, ${options.connections} connections, ${options.warmup} s warm-up + ${options.duration} s per figure, best of ${rounds} rounds; servers on core 0, load on the last core`,
  )
  console.log('(a busy machine makes every figure lower; the ratios hold better)\n')

  // Every server is started first and idles while another is measured; rounds alternate between
  // them so that a neighbour's load on a shared machine hits all alike, and each keeps its best.
  const fastify = await spawnReady('fastify+pglite', [], 'PORT', cleanup, {}, 'bench/peers/fastify-pglite.ts')
  const moleculer = await spawnReady('moleculer-web', [], 'PORT', cleanup, {}, 'bench/peers/moleculer-constant.ts')
  const uncached = await spawnReady('mosaic (cache off)', ['start'], 'PORT', cleanup, { CACHE_MAX_ENTRIES: '0' })
  const cached = await spawnReady('mosaic', ['start'], 'PORT', cleanup)
  const token = await bearer(uncached.url)
  const targets = [
    { label: 'fastify', url: fastify.url + product, pids: [fastify.pid] },
    { label: 'moleculer', url: moleculer.url + product, pids: [moleculer.pid] },
    { label: 'uncached', url: uncached.url + product, pids: [uncached.pid] },
    { label: 'me', url: uncached.url + '/api/users/me', headers: token, pids: [uncached.pid] },
    { label: 'cached', url: cached.url + product, pids: [cached.pid] },
  ]
  for (const { url, headers } of targets) await expectOk(url, headers)
  const runs = await bestOfRounds(targets, rounds, options)
  const best = Object.fromEntries(runs) as Record<string, Run>
  console.log(`load average (1 min) after: ${loadavg()[0]!.toFixed(1)}`)

  // Req/s ratio, and the peer's CPU per request over ours: both read "higher is better".
  const ratio = (a: Run, b: Run): string => `${(a.req / b.req).toFixed(2)}x, CPU ${(b.cpuMs / a.cpuMs).toFixed(2)}x`
  const row = (label: string, r: Run, peer: string, vs: string, target: string): string[] => [
    label,
    String(Math.round(r.req)),
    String(r.p50),
    String(r.p99),
    String(r.errors + r.non2xx),
    r.cpuMs.toFixed(3),
    peer,
    vs,
    target,
  ]
  printTable([
    ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'bad', 'CPU ms/req', 'peer', 'vs peer', 'target'],
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
