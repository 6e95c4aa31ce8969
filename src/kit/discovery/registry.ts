// Where the instances of a service are. Two sources, one interface: URLs from the environment
// (static.ts: <NAME>_SERVICE_URL, several comma-separated, for DNS or Kubernetes Services) and
// a registry in NATS KV that instances join, renew and leave themselves (nats-kv.ts).
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import Type, { type Static } from 'typebox'
import { loadConfig, Env } from '../config.ts'
import { staticRegistry } from './static.ts'
import { BusSettings } from '../events/settings.ts'

export interface InstanceInfo {
  readonly service: string
  /** Unique per process: host, pid and a random suffix. */
  readonly id: string
  readonly url: string
  readonly version: string
  readonly startedAt: string
  /** Shutting down: finishing what it has, taking nothing new. Callers stop choosing it. */
  readonly draining: boolean
}

export interface Registry {
  readonly kind: 'static' | 'nats'
  /** The live instances of `service` known now (draining ones included, marked). */
  instances(service: string): readonly InstanceInfo[]
  /** Whether this registry can name instances of `service` at all. */
  knows(service: string): boolean
  /** Announces this process's instance; renewed until `leave`. */
  join(self: Omit<InstanceInfo, 'draining'>): Promise<void>
  /** Marks this process's instance draining; false when it never joined (nothing to tell). */
  drain(): Promise<boolean>
  /** Withdraws this process's instance and stops watching. */
  close(): Promise<void>
}

export const DiscoveryConfig = Type.Object({
  DISCOVERY: Type.Optional(
    Type.Union([Type.Literal('static'), Type.Literal('nats')], {
      description: 'static: <NAME>_SERVICE_URL only; nats: NATS KV too (default with BUS=nats)',
    }),
  ),
  // The registry's default follows the bus, and it lives on the bus's NATS server.
  ...BusSettings,
  DISCOVERY_BUCKET: Type.Optional(
    Type.String({
      pattern: '^[-_a-zA-Z0-9]+$',
      description: 'The NATS KV bucket of the registry; default <NATS_NAMESPACE>_instances',
    }),
  ),
  DISCOVERY_TTL_MS: Env.positive(5_000, 'An instance whose heartbeats stop is forgotten after this time'),
  DRAIN_GRACE_MS: Type.Integer({
    minimum: 0,
    default: 1_000,
    description: 'How long a draining instance keeps answering after it said so, for callers to hear it',
  }),
})
export type DiscoverySettings = Static<typeof DiscoveryConfig>

/** The registry the environment asks for: static URLs always win for a service that has them. */
export async function openRegistry(env: NodeJS.ProcessEnv): Promise<Registry> {
  const settings = loadConfig(DiscoveryConfig, env)
  const urls = staticRegistry(env)
  if ((settings.DISCOVERY ?? (settings.BUS === 'nats' ? 'nats' : 'static')) === 'static') return urls
  // NATS' client is loaded only by the processes that use it (some 20 MB and 0.1 s of CPU).
  const { natsRegistry } = await import('./nats-kv.ts')
  const nats = await natsRegistry(settings)
  return {
    kind: 'nats',
    instances: (service) => (urls.knows(service) ? urls : nats).instances(service),
    knows: () => true,
    join: (self) => nats.join(self),
    drain: () => nats.drain(),
    close: () => nats.close(),
  }
}

/** This process's instance id: readable in `mosaic services status`, unique across restarts. */
export function instanceId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`
}

/**
 * Before a joined instance stops taking requests: say it is draining, then keep serving for
 * DRAIN_GRACE_MS, the time callers' watches need to hear it (milliseconds on one NATS server).
 */
export async function drainFirst(registry: Registry, env: NodeJS.ProcessEnv): Promise<void> {
  if (await registry.drain()) await sleep(loadConfig(DiscoveryConfig, env).DRAIN_GRACE_MS)
}
