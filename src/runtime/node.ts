// One Mosaic process. As a gateway it runs every service not given a URL in-process behind the
// public edge (`mosaic start`); as a service it runs one service on its own port (`mosaic serve`).
// Either way: one database engine, one event bus, health, metrics, and graceful shutdown.
import { resolve } from 'node:path'
import { readFile } from 'node:fs/promises'
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
import { createLocalBus } from '../kit/events/local-bus.ts'
import type { Bus } from '../kit/events/bus.ts'
import { startService, makeClient, type Platform, type ServiceInstance } from '../kit/internal/host.ts'
import { createCredentials } from '../kit/internal/credentials.ts'
import { loadPolicies } from '../kit/authz.ts'
import { identityContract } from '../services/identity/contract.ts'
import { httpTransport, type Transport } from '../kit/internal/transport.ts'
import { createHttpApp, type Readiness } from '../kit/internal/http-app.ts'
import { serviceRoutes, actionsEndpoint, trustEdge } from '../kit/internal/service-routes.ts'
import { mountGateway, gatewaySettings } from '../gateway/gateway.ts'
import { RuntimeConfig } from './config.ts'
import { createDataDir, lockDataDir } from './data-dir.ts'
import { reachable, listenError } from './startup-error.ts'
import { startMetricsServer, type MetricsServer } from './metrics-server.ts'

export interface NodeOptions {
  readonly role: 'gateway' | 'service'
  readonly services: readonly AnyService[]
  readonly env?: NodeJS.ProcessEnv
  /** Port to listen on (0: any free port); defaults to PORT. */
  readonly port?: number
  /** The variable `port` came from, named when the port is taken. */
  readonly portVariable?: string
}

export interface MosaicNode {
  readonly url: string
  /** Where GET /metrics answers (METRICS_PORT); absent when it is "off". */
  readonly metricsUrl?: string
  readonly app: FastifyInstance
  readonly engine: Engine
  readonly bus: Bus
  readonly services: ReadonlyMap<string, ServiceInstance>
  readonly log: Logger
  /** Graceful: readiness off, drain requests and handlers, close the database. */
  stop(): Promise<void>
}

const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

/** The process's database: PostgreSQL with DATABASE_URL, else PGlite under DATA_DIR/<name>. */
export async function openEngine(config: Static<typeof RuntimeConfig>, name: string): Promise<Engine> {
  if (config.DATABASE_URL) return reachable(openPostgres(config.DATABASE_URL, { poolSize: config.DATABASE_POOL_SIZE }), config.DATABASE_URL)
  if (config.DATA_DIR === ':memory:') return openPglite()
  const dir = resolve(config.DATA_DIR, name)
  await createDataDir(dir)
  const lock = await lockDataDir(dir)
  const engine = await openPglite(dir).catch(async (error: unknown) => { await lock.release(); throw error })
  return { ...engine, close: async () => { await engine.close(); await lock.release() } }
}

export async function startNode(options: NodeOptions): Promise<MosaicNode> {
  const env = options.env ?? process.env
  const config = loadConfig(RuntimeConfig, env)
  const name = options.role === 'gateway' ? 'gateway' : options.services[0]!.contract.name
  const stopTracing = initTracing(options.role === 'gateway' ? 'mosaic' : name, env)
  const root = createLogger(env)
  const log = root.child({ service: name })

  // Every <NAME>_SERVICE_URL in the environment is checked now, not at the first call that needs it.
  loadConfig(Type.Object(Object.fromEntries(Object.keys(env).filter((k) => k.endsWith('_SERVICE_URL')).map((k) => [k, Env.url()]))), env)
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

  const engine = await openEngine(config, options.role === 'gateway' ? 'embedded' : name)
  const bus = createLocalBus({
    engine, log, pollMs: config.EVENT_POLL_MS,
    retry: { maxAttempts: config.EVENT_MAX_ATTEMPTS, baseDelayMs: config.EVENT_RETRY_BASE_MS, maxDelayMs: 60_000 },
  })
  const instances = new Map<string, ServiceInstance>()
  const remotes = new Map<string, Transport>()
  const platform: Platform = {
    engine: () => engine,
    bus,
    log: root,
    env,
    callTimeoutMs: config.CALL_TIMEOUT_MS,
    authorizer: loadPolicies(),
    transport(service) {
      const instance = instances.get(service)
      // Copies in and out: services share no objects in one process, just as over HTTP.
      if (instance) return { invoke: async (action, input, deadline) => structuredClone(await instance.invoke(action, structuredClone(input), deadline)) }
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
      database: async () => { await engine.admin.query('select 1') },
      events: async () => { if (!bus.running) throw new Error('event bus is not running') },
    },
  }
  let app: FastifyInstance | undefined
  try {
    for (const definition of local) instances.set(definition.contract.name, await startService(definition, platform))
    await bus.start()

    app = createHttpApp({
      name, log, readiness, bodyLimit: config.BODY_LIMIT, headerLimit: config.HEADER_LIMIT, trustProxy: trustProxy(config.TRUST_PROXY),
      connections: {
        headersTimeoutMs: config.HEADERS_TIMEOUT_MS, receiveTimeoutMs: Math.max(config.RECEIVE_TIMEOUT_MS, config.HEADERS_TIMEOUT_MS),
        idleTimeoutMs: config.IDLE_TIMEOUT_MS, keepAliveTimeoutMs: config.KEEP_ALIVE_TIMEOUT_MS,
        // A service alone is reached only by the gateway and other services: a few addresses, many connections.
        maxPerClient: options.role === 'gateway' ? config.MAX_CONNECTIONS_PER_CLIENT : 0,
      },
    })
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
    const port = options.port ?? config.PORT
    const address = await app.listen({ port, host: config.HOST }).catch((error: unknown) => { throw listenError(error, options.portVariable ?? 'PORT', port, config.HOST) })
    const metrics = await openMetrics(config.METRICS_PORT, port, config.HOST)
    readiness.state = 'ready'
    log.info({ url: address, metrics: metrics?.url, services: [...instances.keys()], remote: remote.map((s) => s.contract.name), database: engine.kind }, 'mosaic ready')

    let stopping: Promise<void> | undefined
    const stop = (): Promise<void> => (stopping ??= (async () => {
      readiness.state = 'draining'
      const timer = setTimeout(() => log.error('shutdown is taking longer than SHUTDOWN_TIMEOUT_MS'), config.SHUTDOWN_TIMEOUT_MS).unref()
      await app!.close()
      await metrics?.close()
      await bus.stop()
      for (const instance of instances.values()) await instance.stop()
      await Promise.all([...remotes.values()].map((t) => t.close?.()))
      await engine.close()
      await stopTracing()
      clearTimeout(timer)
      log.info('stopped')
    })())
    return { url: address, ...(metrics ? { metricsUrl: metrics.url } : {}), app, engine, bus, services: instances, log, stop }
  } catch (error) {
    await app?.close().catch(() => {})
    await bus.stop().catch(() => {})
    // Services already started may run loops of their own (sagas, mail senders): end them before the database goes.
    for (const instance of instances.values()) await instance.stop().catch(() => {})
    await engine.close().catch(() => {})
    throw error
  }
}

/** METRICS_PORT: "off", a port, or by default 9464 (any free port when the public one is also chosen so). */
function openMetrics(setting: string | undefined, publicPort: number, host: string): Promise<MetricsServer | undefined> | undefined {
  if (setting === 'off') return undefined
  const port = setting === undefined ? (publicPort === 0 ? 0 : 9464) : Number(setting)
  if (port > 65535) throw new ConfigError('METRICS_PORT', 'must be a port (0 to 65535) or "off"', setting)
  return startMetricsServer(port, host)
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

