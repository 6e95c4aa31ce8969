// Mosaic's side of bench/service-calls.ts. `serve`: an `echo` service alone on ECHO_SERVICE_PORT.
// `call`: a process whose `caller` service calls echo (at ECHO_SERVICE_URL) with IN_FLIGHT calls at once.
import { Type, defineContract, defineService } from '../../src/kit/index.ts'
import { startNode } from '../../src/runtime/node.ts'
import { callLoop } from './load.ts'

const Payload = Type.Object({ n: Type.Integer(), text: Type.String() })
const echoContract = defineContract({
  name: 'echo',
  version: '0',
  routes: {},
  events: {},
  actions: { echo: { summary: 'Answer with the input', input: Payload, output: Payload, idempotent: true } },
})
const echo = defineService(echoContract, { routes: {}, actions: { echo: async (input) => input } })
const caller = defineService(defineContract({ name: 'caller', version: '0', routes: {}, actions: {}, events: {} }), {
  routes: {},
  actions: {},
})

const env = { ...process.env, DATA_DIR: ':memory:' }
if (process.argv[2] === 'serve') {
  const node = await startNode({ role: 'service', services: [echo], port: Number(process.env.ECHO_SERVICE_PORT), env })
  console.log(`READY ${node.url}`)
  process.once('SIGTERM', () => void node.stop().then(() => process.exit(0)))
} else {
  const node = await startNode({ role: 'gateway', services: [echo, caller], port: 0, env })
  const client = node.services.get('caller')!.context.client(echoContract)
  await callLoop(
    (n) => client.echo({ n, text: 'hello' }),
    Number(process.env.IN_FLIGHT ?? 50),
    Number(process.env.BENCH_DURATION ?? 10),
  )
  await node.stop()
}
