// The peer's side of bench/service-calls.ts: Moleculer 0.15 over NATS (its NATS transporter,
// the `nats` v2 client). `serve`: a broker with an `echo` service; `call`: a broker calling it
// with IN_FLIGHT calls at once. Validation off on both sides, as Moleculer ships.
import { ServiceBroker } from 'moleculer'
import { callLoop } from '../calls/load.ts'

const broker = new ServiceBroker({
  nodeID: `${process.argv[2]}-${process.pid}`,
  transporter: { type: 'NATS', options: { url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' } },
  namespace: process.env.MOLECULER_NAMESPACE ?? 'mosaic-bench',
  logger: false,
})
if (process.argv[2] === 'serve') {
  broker.createService({ name: 'echo', actions: { echo: (ctx) => ctx.params } })
  await broker.start()
  console.log('READY moleculer')
  process.once('SIGTERM', () => void broker.stop().then(() => process.exit(0)))
} else {
  await broker.start()
  await broker.waitForServices('echo')
  await callLoop(
    (n) => broker.call('echo.echo', { n, text: 'hello' }),
    Number(process.env.IN_FLIGHT ?? 50),
    Number(process.env.BENCH_DURATION ?? 10),
  )
  await broker.stop()
}
