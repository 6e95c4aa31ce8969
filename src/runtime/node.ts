// One Mosaic process. As a gateway it runs every service not given a URL in-process behind the
// public edge (`mosaic start`); as a service it runs one service on its own port (`mosaic serve`).
// Either way: one database engine, one event bus, health, metrics, and graceful shutdown.
import { resolve } from 'node:path'
import { mkdir, readFile } from 'node:fs/promises'
import type { FastifyInstance } from 'fastify'
import Type, { type Static } from 'typebox'
import type { AnyService } from '../kit/service.ts'
import type { Contract } from '../kit/contract.ts'
import type { Engine } from '../kit/db/database.ts'
import { loadConfig, envPrefix, Env, ConfigError, splitList } from '../kit/config.ts'
import { MosaicError } from '../kit/errors.ts'
import { createLogger, type Logger } from '../kit/log.ts'
import { initTracing } from '../kit/telemetry/tracing.ts'
import { openPglite } from '../kit/db/pglite.ts'
import { openPostgres } from '../kit/db/postgres.ts'
import type { Bus } from '../kit/events/bus.ts'
import { startService, makeClient, routesOf, schemaOf, type Platform, type ServiceInstance } from '../kit/internal/host.ts'
import { replayDeadLetters } from '../kit/events/replay.ts'
import { createCredentials } from '../kit/internal/credentials.ts'
import { loadPolicies } from '../kit/authz.ts'
import { identityContract } from '../services/identity/contract.ts'
import { httpTransport, localTransport, type Transport } from '../kit/internal/transport.ts'
import { createHttpApp, type Readiness } from '../kit/internal/http-app.ts'
import { serviceRoutes, actionsEndpoint, trustEdge } from '../kit/internal/service-routes.ts'
import { mountGateway, gatewaySettings } from '../gateway/gateway.ts'
import { RuntimeConfig } from './config.ts'
import { trackBus } from '../kit/telemetry/metrics.ts'
import { createBus, checkEventPaths } from './events.ts'

export interface NodeOptions {
  readonly role: 'gateway' | 'service'
  /** What this process runs: as a gateway, every service not given a URL; as a service, the first. */
  readonly services: readonly AnyService[]
  /**
   * Every service of the system, wherever it runs (default: `services`): the event graph comes from
   * their subscriptions, so events are kept for subscribers that run in other processes too.
   */
  readonly system?: readonly AnyService[]
  readonly env?: NodeJS.ProcessEnv
  /** Port to listen on (0: any free port); defaults to PORT. */
  readonly port?: number
}

export interface MosaicNode {
  readonly url: string
  readonly app: FastifyInstance
  /** The database of services without one of their own (and of the embedded bus). */
  readonly engine: Engine
  /** The database each service of this process uses. */
  engineOf(service: string): Engine
  readonly bus: Bus
  readonly services: ReadonlyMap<string, ServiceInstance>
  readonly log: Logger
  /** Sends a service's dead-lettered events (all, or the given ids) back for delivery; returns how many. */
  replay(service: string, ids?: readonly number[]): Promise<number>
  /** Graceful: readiness off, drain requests and handlers, close the database. */
  stop(): Promise<void>
}

const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

/** `<NAME>_DATABASE_URL`: a service's own PostgreSQL database, if it has one. */
export function ownDatabaseUrl(service: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[`${envPrefix(service)}_DATABASE_URL`] || undefined
}

/** A service's database for a command-line tool: its own, or the one the whole system shares. */
export async function openServiceEngine(service: string, env: NodeJS.ProcessEnv = process.env): Promise<Engine> {
  const own = ownDatabaseUrl(service, env)
  return own ? openPostgres(own) : openEngine(loadConfig(RuntimeConfig, env), 'embedded')
}

/** The process's database: PostgreSQL with DATABASE_URL, else PGlite under DATA_DIR/<name>. */
export async function openEngine(config: Static<typeof RuntimeConfig>, name: string): Promise<Engine> {
  if (config.DATABASE_URL) return openPostgres(config.DATABASE_URL, { poolSize: config.DATABASE_POOL_SIZE })
  if (config.DATA_DIR === ':memory:') return openPglite()
  const dir = resolve(config.DATA_DIR, name)
  await mkdir(dir, { recursive: true })
  return openPglite(dir)
}

export async function startNode(options: NodeOptions): Promise<MosaicNode> {
  const env = options.env ?? process.env
  const config = loadConfig(RuntimeConfig, env)
  const name = options.role === 'gateway' ? 'gateway' : options.services[0]!.contract.name
  const stopTracing = initTracing(name, env)
  const root = createLogger(env)
  const log = root.child({ service: name })

  // Every <NAME>_SERVICE_URL and <NAME>_DATABASE_URL in the environment is checked now, not when first used.
  loadConfig(Type.Object(Object.fromEntries(Object.keys(env).flatMap((k) => {
    if (k.endsWith('_SERVICE_URL')) return [[k, Env.url()]]
    if (k.endsWith('_DATABASE_URL') && k !== 'DATABASE_URL') return [[k, Type.String({ pattern: '^postgres(ql)?://' })]]
    return []
  }))), env)
  const urlOf = (service: string): string | undefined => env[`${envPrefix(service)}_SERVICE_URL`] || undefined
  const remote = options.role === 'gateway' ? options.services.filter((s) => urlOf(s.contract.name)) : []
  const local = options.services.filter((s) => !remote.includes(s))

  // Processes that talk over HTTP prove who is calling with credentials signed by a shared secret.
  const split = options.role === 'service' || remote.length > 0
  if (split && !config.MOSAIC_INTERNAL_SECRET) throw new ConfigError('MOSAIC_INTERNAL_SECRET', 'is required when services run in separate processes (32+ characters)', undefined)
  const credentials = config.MOSAIC_INTERNAL_SECRET ? createCredentials(config.MOSAIC_INTERNAL_SECRET) : undefined
  // Every service's own variables too, before any service starts: a mistake in one must not
  // leave another's migrations, keys or first admin behind in a process that then refuses to run.
  for (const definition of local) loadConfig(definition.implementation.config ?? Type.Object({}), env)
  const gateway = options.role === 'gateway' ? gatewaySettings(options.services.map((s) => s.contract as Contract), env, config.HOST) : undefined

  const system = options.system ?? options.services
  const names = new Set(system.map((s) => s.contract.name as string))
  const routes = system.flatMap(routesOf).filter((r) => names.has(r.source))
  const ownUrl = (service: string): string | undefined => {
    const url = ownDatabaseUrl(service, env)
    return url && url !== config.DATABASE_URL ? url : undefined
  }
  checkEventPaths(config, routes, new Set(local.map((s) => s.contract.name)), new Set([...names].filter(ownUrl)))

  const engine = await openEngine(config, options.role === 'gateway' ? 'embedded' : name)
  // A database of its own for each service given one; services sharing a URL share its pool.
  const engines = new Map<string, Engine>()
  for (const s of local) {
    const url = ownUrl(s.contract.name)
    if (url && !engines.has(url)) engines.set(url, openPostgres(url, { poolSize: config.DATABASE_POOL_SIZE }))
  }
  const engineOf = (service: string): Engine => engines.get(ownUrl(service) ?? '') ?? engine
  const bus = createBus({ config, engine, log, routes, name: `mosaic-${name}-${process.pid}` })
  trackBus(bus)
  const instances = new Map<string, ServiceInstance>()
  const remotes = new Map<string, Transport>()
  const platform: Platform = {
    engine: engineOf,
    bus,
    pollMs: config.EVENT_POLL_MS,
    log: root,
    env,
    callTimeoutMs: config.CALL_TIMEOUT_MS,
    authorizer: loadPolicies(),
    transport(service) {
      const instance = instances.get(service)
      if (instance) return localTransport(instance)
      let transport = remotes.get(service)
      const url = urlOf(service)
      if (!transport && url && credentials) remotes.set(service, transport = httpTransport(url, credentials))
      if (!transport) throw new MosaicError('unavailable', { detail: `${service} is not running in this process and ${envPrefix(service)}_SERVICE_URL is not set` })
      return transport
    },
  }

  const readiness: Readiness = {
    state: 'starting',
    checks: {
      database: async () => { await Promise.all([engine, ...engines.values()].map((e) => e.admin.query('select 1'))) },
      events: async () => {
        if (!bus.running) throw new Error('event bus is not running')
        if (!(await bus.status()).connected) throw new Error(`event bus (${bus.kind}) is not connected`)
      },
    },
  }
  let app: FastifyInstance | undefined
  try {
    await bus.start()
    for (const definition of local) instances.set(definition.contract.name, await startService(definition, platform))

    app = createHttpApp({ name, log, readiness, bodyLimit: config.BODY_LIMIT, headerLimit: config.HEADER_LIMIT, trustProxy: trustProxy(config.TRUST_PROXY),
      // A service's own server is reached through the gateway or other services, which send their context.
      trustIncomingTrace: options.role === 'service' || config.TRACE_TRUST_INCOMING })
    if (options.role === 'gateway') {
      await mountGateway(app, {
        settings: gateway!,
        local: [...instances.values()],
        remote: remote.map((s) => ({ contract: s.contract as Contract, url: urlOf(s.contract.name)! })),
        identity: makeClient(identityContract, platform, 'gateway'),
        authorizer: platform.authorizer,
        ...(credentials ? { credentials } : {}),
        corsOrigins: splitList(config.CORS_ORIGINS),
        requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
        version,
      })
    } else {
      const instance = [...instances.values()][0]!
      trustEdge(app, credentials!)
      await app.register(serviceRoutes(instance, { requestTimeoutMs: config.REQUEST_TIMEOUT_MS }))
      await app.register(actionsEndpoint(instance, config.REQUEST_TIMEOUT_MS))
    }
    const address = await app.listen({ port: options.port ?? config.PORT, host: config.HOST })
    readiness.state = 'ready'
    log.info({ url: address, services: [...instances.keys()], remote: remote.map((s) => s.contract.name), database: engine.kind }, 'mosaic ready')

    let stopping: Promise<void> | undefined
    const stop = (): Promise<void> => (stopping ??= (async () => {
      readiness.state = 'draining'
      const timer = setTimeout(() => log.error('shutdown is taking longer than SHUTDOWN_TIMEOUT_MS'), config.SHUTDOWN_TIMEOUT_MS).unref()
      await app!.close()
      for (const instance of instances.values()) await instance.stop()
      await bus.stop()
      await Promise.all([...remotes.values()].map((t) => t.close?.()))
      await Promise.all([engine, ...engines.values()].map((e) => e.close()))
      await stopTracing()
      clearTimeout(timer)
      log.info('stopped')
    })())
    const replay = (service: string, ids?: readonly number[]): Promise<number> =>
      replayDeadLetters(engineOf(service), schemaOf(service), bus, routes, ids)
    return { url: address, app, engine, engineOf, bus, services: instances, log, replay, stop }
  } catch (error) {
    await app?.close().catch(() => {})
    // Services already started may run loops of their own (sagas, mail senders): end them before the database goes.
    for (const instance of instances.values()) await instance.stop().catch(() => {})
    await bus.stop().catch(() => {})
    await Promise.all([engine, ...engines.values()].map((e) => e.close().catch(() => {})))
    throw error
  }
}

/** TRUST_PROXY: "true" believes any proxy; otherwise the listed addresses; empty believes none. */
function trustProxy(value: string): boolean | string {
  if (value === 'true') return true
  return splitList(value).join(',') || false
}

/** SIGTERM/SIGINT stop the node gracefully and exit 0; a second signal exits at once. */
export function exitOnSignals(node: MosaicNode): void {
  let received = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received) {
      node.log.warn({ signal }, 'second signal: exiting now')
      process.exit(130)
    }
    received = true
    node.log.info({ signal }, 'shutting down')
    node.stop().then(() => process.exit(0), (error: unknown) => {
      node.log.error({ err: error }, 'shutdown failed')
      process.exit(1)
    })
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}

