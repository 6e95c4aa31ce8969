// Worker thread: keeps this instance's registry entry alive, whatever the main thread is doing
// (see nats-kv.ts). Messages from the main thread: 'drain' re-puts the entry marked draining,
// 'leave' deletes it; each is answered once done.
import { parentPort, workerData } from 'node:worker_threads'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'

const { servers, bucket, key, info, everyMs } = workerData as {
  servers: string
  bucket: string
  key: string
  info: Record<string, unknown>
  everyMs: number
}
const nc = await connect({ servers, name: `mosaic-heartbeat-${key}`, maxReconnectAttempts: -1 })
const kv = await new Kvm(nc).open(bucket)
let entry = JSON.stringify(info)
// A failed put (NATS restarting) is retried at the next beat; the entry outlives a few misses.
const put = () => kv.put(key, entry).catch(() => {})
await put()
const timer = setInterval(put, everyMs)
parentPort!.postMessage('joined')

parentPort!.on(
  'message',
  (message: string) =>
    void (async () => {
      if (message === 'drain') {
        entry = JSON.stringify({ ...info, draining: true })
        await put()
      } else if (message === 'leave') {
        clearInterval(timer)
        await kv.delete(key).catch(() => {})
        await nc.close()
      }
      parentPort!.postMessage(message)
    })(),
)
