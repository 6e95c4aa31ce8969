// Peer for bench/gateway-proxy.ts: a plain @fastify/http-proxy in front of UPSTREAM_URL, no
// authentication, limits or logs.
import Fastify from 'fastify'
import httpProxy from '@fastify/http-proxy'

const app = Fastify({ logger: false })
app.get('/health/ready', async () => ({ status: 'pass' }))
await app.register(httpProxy, {
  upstream: process.env.UPSTREAM_URL!,
  prefix: '/api',
  rewritePrefix: '/api',
  http2: false,
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
