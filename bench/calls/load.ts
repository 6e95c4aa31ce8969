// The calling side's loop, the same for Mosaic and the peer: `inFlight` calls kept going for
// `seconds`, each latency recorded; prints one JSON line for bench/service-calls.ts.
export async function callLoop(
  call: (n: number) => Promise<unknown>,
  inFlight: number,
  seconds: number,
): Promise<void> {
  const warmupEnd = Date.now() + 2_000
  while (Date.now() < warmupEnd) await Promise.all(Array.from({ length: inFlight }, (_, i) => call(i)))
  const latencies: number[] = []
  let errors = 0
  const end = Date.now() + seconds * 1000
  const started = performance.now()
  await Promise.all(
    Array.from({ length: inFlight }, async (_, worker) => {
      for (let n = worker; Date.now() < end; n += inFlight) {
        const t = performance.now()
        try {
          await call(n)
          latencies.push(performance.now() - t)
        } catch {
          errors++
        }
      }
    }),
  )
  const elapsed = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN
  console.log(JSON.stringify({ perSecond: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), errors }))
}
