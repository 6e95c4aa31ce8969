// The registry in a NATS KV bucket: key `<service>.<instance id>`, value the instance's
// InstanceInfo. Every process watches the bucket and keeps the instances it has heard from
// within the TTL; an instance renews its entry from a worker thread (heartbeat.ts).
//
// Why a worker thread: a heartbeat on the main event loop stops while the loop is busy (a long
// synchronous job, a GC pause, a CPU-starved container), and the instance would vanish from
// every caller while it is in fact still serving. The worker has its own loop and its own NATS
// connection. An instance that is alive but wedged keeps its entry; callers' circuit breakers
// then take it out of rotation, which is their job, not the registry's.
import { Worker } from 'node:worker_threads'
import { once } from 'node:events'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import type { InstanceInfo, Registry, DiscoverySettings } from './registry.ts'

interface Known {
  readonly info: InstanceInfo
  seenAt: number
}

export async function natsRegistry(settings: DiscoverySettings): Promise<Registry> {
  const ttl = settings.DISCOVERY_TTL_MS
  const bucket = settings.DISCOVERY_BUCKET ?? `${settings.NATS_NAMESPACE}_instances`
  const nc = await connect({ servers: settings.NATS_URL, name: 'mosaic-discovery', maxReconnectAttempts: -1 })
  // The bucket's own TTL removes entries of instances that died; watchers are not told when
  // that happens (NATS 2.9 has no delete markers), so each process also forgets entries it has
  // not heard renewed within the TTL.
  const kv = await new Kvm(nc).create(bucket, { ttl, history: 1 })
  const known = new Map<string, Known>()
  const watch = await kv.watch({ key: '>' })
  void (async () => {
    for await (const entry of watch) {
      if (entry.operation !== 'PUT') known.delete(entry.key)
      else known.set(entry.key, { info: entry.json<InstanceInfo>(), seenAt: Date.now() })
    }
  })()

  let heartbeat: Worker | undefined
  const ask = async (message: string): Promise<boolean> => {
    if (!heartbeat) return false
    heartbeat.postMessage(message)
    await once(heartbeat, 'message')
    return true
  }

  return {
    kind: 'nats',
    instances(service) {
      const now = Date.now()
      const found: InstanceInfo[] = []
      for (const [key, entry] of known) {
        if (now - entry.seenAt > ttl) known.delete(key)
        else if (entry.info.service === service) found.push(entry.info)
      }
      return found
    },
    knows: () => true,
    async join(self) {
      heartbeat = new Worker(new URL('./heartbeat.ts', import.meta.url), {
        workerData: {
          servers: settings.NATS_URL,
          bucket,
          key: `${self.service}.${self.id}`,
          info: { ...self, draining: false },
          everyMs: Math.max(100, Math.floor(ttl / 4)),
        },
      })
      await once(heartbeat, 'message') // the first put is done: callers can find this instance
    },
    drain: () => ask('drain'),
    async close() {
      await ask('leave')
      await heartbeat?.terminate()
      watch.stop()
      await nc.close()
    },
  }
}
