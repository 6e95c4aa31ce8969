// The transport alone, for bench/service-calls.ts: a plain undici Pool calling a plain Fastify
// route that answers with its JSON body, no platform around either. What one HTTP/1.1 request
// per call costs, beside which Mosaic's own layers and Moleculer's NATS transport can be read.
// `serve`: the route on ECHO_PORT; `call`: IN_FLIGHT calls at once to ECHO_URL.
import Fastify from 'fastify'
import { Pool } from 'undici'
import { callLoop } from '../calls/load.ts'

if (process.argv[2] === 'serve') {
  const app = Fastify({ logger: false })
  app.post('/echo', async (request) => request.body)
  await app.listen({ port: Number(process.env.ECHO_PORT), host: '127.0.0.1' })
  console.log('READY undici-fastify')
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)))
} else {
  const pool = new Pool(process.env.ECHO_URL!, { connections: 128 })
  await callLoop(
    async (n) => {
      const response = await pool.request({
        method: 'POST',
        path: '/echo',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ n, text: 'hello' }),
      })
      return response.body.json()
    },
    Number(process.env.IN_FLIGHT ?? 50),
    Number(process.env.BENCH_DURATION ?? 10),
  )
  await pool.close()
}
