// Slow and stalled clients against a real node over real sockets: a request whose body never
// arrives is closed within RECEIVE_TIMEOUT_MS (plus Node's one-second check), a head that never
// ends within HEADERS_TIMEOUT_MS, and one address holding many connections gets no more than
// MAX_CONNECTIONS_PER_CLIENT, while the server keeps answering everyone else.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { request } from 'node:http'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import { topology } from '../../src/runtime/topology.ts'
import { testEnv } from '../auth.ts'
import { eventually } from '../helpers/wait.ts'

const RECEIVE_MS = 1500
const HEADERS_MS = 800
const CAP = 40
let node: MosaicNode
let port: number

before(async () => {
  node = await startNode({
    role: 'gateway',
    services: topology.map((s) => s.definition),
    port: 0,
    env: testEnv({
      RECEIVE_TIMEOUT_MS: String(RECEIVE_MS),
      HEADERS_TIMEOUT_MS: String(HEADERS_MS),
      MAX_CONNECTIONS_PER_CLIENT: String(CAP),
    }),
  })
  port = Number(new URL(node.url).port)
})
after(() => node?.stop())

/** A connection from `localAddress` (any of 127.0.0.0/8 reaches 127.0.0.1 on Linux) that sends `data` and then nothing. */
async function stall(data: string, localAddress = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', localAddress })
  socket.on('error', () => {})
  socket.resume() // read what the server sends, so its closing is seen
  await once(socket, 'connect')
  socket.write(data)
  return socket
}

/** Milliseconds until the server closes `socket`. */
async function closedAfter(socket: Socket): Promise<number> {
  const started = performance.now()
  let answer = ''
  socket.on('data', (chunk: Buffer) => {
    answer += chunk.toString()
  })
  await once(socket, 'close')
  assert.match(answer, /^HTTP\/1\.1 408 /, 'told why, before the close')
  return performance.now() - started
}

const stalledLogin =
  'POST /api/users/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"em'

/** GET /health/live from `localAddress`; resolves with the status or the error code. */
function live(localAddress: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/health/live', localAddress, agent: false, timeout: 5000 },
      (res) => {
        res.resume()
        resolve(res.statusCode!)
      },
    )
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
    req.end()
  })
}

test('a request whose body stalls is closed within RECEIVE_TIMEOUT_MS', async () => {
  const ms = await closedAfter(await stall(stalledLogin))
  assert.ok(ms >= RECEIVE_MS - 100 && ms < RECEIVE_MS + 1500, `closed after ${Math.round(ms)} ms`)
})

test('a head that never ends is closed within HEADERS_TIMEOUT_MS', async () => {
  const ms = await closedAfter(await stall('GET /health/live HTTP/1.1\r\nhost: x\r\nx-slow: a'))
  assert.ok(ms >= HEADERS_MS - 100 && ms < HEADERS_MS + 1500, `closed after ${Math.round(ms)} ms`)
})

test('one address gets at most MAX_CONNECTIONS_PER_CLIENT; others are still answered', async () => {
  const sockets = await Promise.all(Array.from({ length: CAP * 3 }, () => stall(stalledLogin, '127.0.0.2')))
  // The kernel completes the handshakes; the server closes the excess as it accepts them.
  const open = (): Socket[] => sockets.filter((s) => !s.destroyed)
  for (const deadline = Date.now() + 5000; open().length > CAP && Date.now() < deadline; )
    await new Promise((resolve) => setTimeout(resolve, 50))
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(open().length, CAP, `${open().length} of ${sockets.length} left open`)
  assert.equal(await live('127.0.0.2'), 'ECONNRESET', 'this address is at its cap')
  // Another client meanwhile, several times over while the stalled ones are held.
  for (let i = 0; i < 5; i++) assert.equal(await live('127.0.0.3'), 200)
  // The stalled ones end by the receive timeout, and the address may connect again (once the server
  // has seen its side of those connections close too, a moment after the client has).
  await Promise.all(open().map((s) => once(s, 'close')))
  assert.equal(
    await eventually('127.0.0.2 answered again', async () => (await live('127.0.0.2')) === 200 || undefined, 3000),
    true,
  )
})
