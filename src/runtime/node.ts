// One Mosaic process. As a gateway it runs every service not given a URL in-process behind the
// public edge (`mosaic start`); as a service it runs one service on its own port (`mosaic serve`).
// Either way: one database engine, one event bus, health, metrics, and graceful shutdown.
import { resolve } from 'node:path'
import { readFile, rename, writeFile } from 'node:fs/promises'
import type { FastifyInstance } from 'fastify'
import Type, { type Static } from 'typebox'
import type { AnyService } from '../kit/service.ts'
import type { Contract } from '../kit/contract.ts'
import type { Engine } from '../kit/db/database.ts'
import { loadConfig, envPrefix, ConfigError, splitList } from '../kit/config.ts'
import { MosaicError } from '../kit/errors.ts'
import { createLogger, type Logger } from '../kit/log.ts'
import { initTracing } from '../kit/telemetry/tracing.ts'
import { openPglite } from '../kit/db/pglite.ts'
import { schemaTemplatePath, type TemplateSchema } from '../kit/db/schema-template.ts'
import type { PostgresOptions } from '../kit/db/postgres.ts'
import type { Bus } from '../kit/events/bus.ts'
import {
  startService,
  makeClient,
  routesOf,
  schemaOf,
  type Platform,
  type ServiceInstance,
} from '../kit/internal/host.ts'
import { replayDeadLetters } from '../kit/events/replay.ts'
import { createCredentials } from '../kit/internal/credentials.ts'
import { loadPolicies } from '../kit/authz.ts'
import { openCache } from '../kit/cache/open.ts'
import { identityContract } from '../services/identity/contract.ts'
import { httpTransport, localTransport, type Transport } from '../kit/internal/transport.ts'
import { openRegistry, drainFirst, instanceId } from '../kit/discovery/registry.ts'
import { staticRegistry, checkServiceUrls } from '../kit/discovery/static.ts'
import { createUpstream, upstreamHealth, type Upstream } from '../kit/calls/upstream.ts'
import { callPolicy } from '../kit/calls/policy.ts'
import { createHttpApp, type Readiness } from '../kit/internal/http-app.ts'
import { serviceRoutes, actionsEndpoint, trustEdge } from '../kit/internal/service-routes.ts'
import { mountGateway, gatewaySettings } from '../gateway/gateway.ts'
import { RuntimeConfig } from './config.ts'
import { trackBus } from '../kit/telemetry/metrics.ts'
import { createBus, checkEventPaths } from './events.ts'
import { createDataDir, lockDataDir } from './data-dir.ts'
import { embeddedSchemas } from './embedded-schemas.ts'
import { reachable, listenError } from './startup-error.ts'
import { startMetricsServer, type MetricsServer } from './metrics-server.ts'
import { processOps } from '../kit/internal/process-ops.ts'
import { opsEndpoint, OPS_PATH } from '../kit/internal/ops-endpoint.ts'
import { ordersContract } from '../services/orders/contract.ts'

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
  /** A gateway alone (`mosaic serve gateway`): every service is remote, found through discovery. */
  readonly allRemote?: boolean
  /** The variable `port` came from, named when the port is taken. */
  readonly portVariable?: string
}

export interface MosaicNode {
  readonly url: string
  /** Where GET /metrics answers (METRICS_PORT); absent when it is "off". */
  readonly metricsUrl?: string
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

/** What the operator console polls (the operator API, each process's part of it, the console's sections): not traced. */
const OPERATOR_ROUTES = ['/api/ops/', `${OPS_PATH}/`, '/console/part/']

const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string
}

/** PostgreSQL's client, loaded only by the processes that use one (embedded ones never do). */
async function openPostgres(url: string, options?: PostgresOptions): Promise<Engine> {
  return (await import('../kit/db/postgres.ts')).openPostgres(url, options)
}

/** `<NAME>_DATABASE_URL`: a service's own PostgreSQL database, if it has one. */
export function ownDatabaseUrl(service: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[`${envPrefix(service)}_DATABASE_URL`] || undefined
}

/** A service's database for a command-line tool: its own, or the one the whole system shares. */
export async function openServiceEngine(service: string, env: NodeJS.ProcessEnv = process.env): Promise<Engine> {
  const own = ownDatabaseUrl(service, env)
  return own ? openPostgres(own) : openEngine(loadConfig(RuntimeConfig, env), 'embedded')
}

/**
 * The process's database: PostgreSQL with DATABASE_URL, else PGlite under DATA_DIR/<name>, a fresh
 * one copied from the template already migrated for `schemas` when there is one.
 */
export async function openEngine(
  config: Static<typeof RuntimeConfig>,
  name: string,
  schemas: readonly TemplateSchema[] = [],
): Promise<Engine> {
  if (config.DATABASE_URL)
    return reachable(
      await openPostgres(config.DATABASE_URL, { poolSize: config.DATABASE_POOL_SIZE }),
      config.DATABASE_URL,
    )
  if (config.DATA_DIR === ':memory:') return openPglite()
  const dir = resolve(config.DATA_DIR, name)
  // Named only for a fresh directory: a restart reads no migrations here (each service's own check does).
  const template = schemas.length > 0 ? () => schemaTemplatePath(schemas) : undefined
  await createDataDir(dir)
  const lock = await lockDataDir(dir)
  // A failure (a migration file misnamed, found while naming the template) must not leave the lock held.
  const engine = await openPglite(dir, template).catch(async (error: unknown) => {
    await lock.release()
    throw error
  })
  return {
    ...engine,
    close: async () => {
      await engine.close()
      await lock.release()
    },
  }
}

export async function startNode(options: NodeOptions): Promise<MosaicNode> {
  const env = options.env ?? process.env
  const config = loadConfig(RuntimeConfig, env)
  const name = options.role === 'gateway' ? 'gateway' : options.services[0]!.contract.name
  const stopTracing = initTracing(name, env)
  const root = createLogger(env)
  const log = root.child({ service: name })

  // Every <NAME>_SERVICE_URL and <NAME>_DATABASE_URL in the environment is checked now, not when first used.
  checkServiceUrls(env)
  loadConfig(
    Type.Object(
      Object.fromEntries(
        Object.keys(env)
          .filter((k) => k.endsWith('_DATABASE_URL') && k !== 'DATABASE_URL')
          .map((k) => [k, Type.String({ pattern: '^postgres(ql)?://' })]),
      ),
    ),
    env,
  )
  const registry = await openRegistry(env)
  const staticUrls = staticRegistry(env)
  const remote =
    options.role === 'gateway'
      ? options.services.filter((s) => options.allRemote || staticUrls.knows(s.contract.name))
      : []
  const local = options.services.filter((s) => !remote.includes(s))

  // Processes that talk over HTTP prove who is calling with credentials signed by a shared secret.
  const split = options.role === 'service' || remote.length > 0
  if (split && !config.MOSAIC_INTERNAL_SECRET)
    throw new ConfigError(
      'MOSAIC_INTERNAL_SECRET',
      'is required when services run in separate processes (32+ characters)',
      undefined,
    )
  const credentials = config.MOSAIC_INTERNAL_SECRET ? createCredentials(config.MOSAIC_INTERNAL_SECRET) : undefined
  // Every service's own variables too, before any service starts: a mistake in one must not
  // leave another's migrations, keys or first admin behind in a process that then refuses to run.
  for (const definition of local) loadConfig(definition.implementation.config ?? Type.Object({}), env)
  const gateway =
    options.role === 'gateway'
      ? gatewaySettings(
          options.services.map((s) => s.contract as Contract),
          env,
          config.HOST,
        )
      : undefined

  const system = options.system ?? options.services
  const names = new Set(system.map((s) => s.contract.name as string))
  const routes = system.flatMap(routesOf).filter((r) => names.has(r.source))
  const ownUrl = (service: string): string | undefined => {
    const url = ownDatabaseUrl(service, env)
    return url && url !== config.DATABASE_URL ? url : undefined
  }
  checkEventPaths(config, routes, new Set(local.map((s) => s.contract.name)), new Set([...names].filter(ownUrl)))

  // A service process whose service has a database of its own needs no other: no PGlite beside it
  // (seconds of start and hundreds of megabytes each, and replicas would share its directory).
  const sole = options.role === 'service' ? ownUrl(name) : undefined
  const engine = sole
    ? await openPostgres(sole, { poolSize: config.DATABASE_POOL_SIZE })
    : await openEngine(
        config,
        options.role === 'gateway' ? 'embedded' : name,
        embeddedSchemas(
          local.filter((s) => !ownUrl(s.contract.name)),
          config.BUS !== 'nats',
        ),
      )
  // A database of its own for each service given one; services sharing a URL share its pool.
  const engines = new Map<string, Engine>()
  for (const s of local) {
    const url = ownUrl(s.contract.name)
    if (url && url !== sole && !engines.has(url))
      engines.set(url, await openPostgres(url, { poolSize: config.DATABASE_POOL_SIZE }))
  }
  const engineOf = (service: string): Engine => engines.get(ownUrl(service) ?? '') ?? engine
  const bus = await createBus({ config, engine, log, routes, name: `mosaic-${name}-${process.pid}` })
  trackBus(bus)
  const cache = await openCache(
    {
      ttlMs: config.CACHE_TTL_MS,
      maxEntries: config.CACHE_MAX_ENTRIES,
      maxBytes: config.CACHE_MAX_BYTES,
      redisUrl: config.REDIS_URL,
    },
    log,
  )
  const instances = new Map<string, ServiceInstance>()
  const readiness: Readiness = {
    state: 'starting',
    checks: {
      database: async () => {
        await Promise.all([engine, ...engines.values()].map((e) => e.admin.query('select 1')))
      },
      events: async () => {
        if (!bus.running) throw new Error('event bus is not running')
        if (!(await bus.status()).connected) throw new Error(`event bus (${bus.kind}) is not connected`)
      },
    },
  }
  const upstreams = new Map<string, Upstream>()
  const upstreamOf = (service: string): Upstream | undefined => {
    if (!registry.knows(service)) return undefined
    let upstream = upstreams.get(service)
    if (!upstream) {
      upstreams.set(service, (upstream = createUpstream(service, registry, callPolicy(service, env), log)))
      readiness.checks[`calls:${service}`] = async () => upstreamHealth(upstream!)
    }
    return upstream
  }
  const remotes = new Map<string, Transport>()
  const platform: Platform = {
    engine: engineOf,
    bus,
    pollMs: config.EVENT_POLL_MS,
    log: root,
    env,
    callTimeoutMs: config.CALL_TIMEOUT_MS,
    authorizer: loadPolicies(),
    cache,
    transport(service) {
      const instance = instances.get(service)
      // Copies in and out: services share no objects in one process, just as over HTTP.
      if (instance) return localTransport(instance)
      let transport = remotes.get(service)
      const upstream = transport ? undefined : upstreamOf(service)
      if (upstream && credentials) remotes.set(service, (transport = httpTransport(upstream, credentials)))
      if (!transport)
        throw new MosaicError('unavailable', {
          detail: `${service} is not running in this process and ${envPrefix(service)}_SERVICE_URL is not set`,
        })
      return transport
    },
  }

  const replay = (service: string, ids?: readonly number[]): Promise<number> =>
    replayDeadLetters(engineOf(service), schemaOf(service), bus, routes, ids)
  const ops = processOps({ bus, routes, services: local.map((s) => s.contract.name), engineOf, replay })

  let app: FastifyInstance | undefined
  let address = ''
  try {
    await bus.start()
    for (const definition of local) instances.set(definition.contract.name, await startService(definition, platform))

    app = createHttpApp({
      name,
      log,
      readiness,
      bodyLimit: config.BODY_LIMIT,
      headerLimit: config.HEADER_LIMIT,
      trustProxy: trustProxy(config.TRUST_PROXY),
      // A service's own server is reached through the gateway or other services, which send their context.
      trustIncomingTrace: options.role === 'service' || config.TRACE_TRUST_INCOMING,
      untracedRoutes: OPERATOR_ROUTES,
      connections: {
        headersTimeoutMs: config.HEADERS_TIMEOUT_MS,
        receiveTimeoutMs: Math.max(config.RECEIVE_TIMEOUT_MS, config.HEADERS_TIMEOUT_MS),
        idleTimeoutMs: config.IDLE_TIMEOUT_MS,
        keepAliveTimeoutMs: config.KEEP_ALIVE_TIMEOUT_MS,
        // A service alone is reached only by the gateway and other services: a few addresses, many connections.
        maxPerClient: options.role === 'gateway' ? config.MAX_CONNECTIONS_PER_CLIENT : 0,
      },
    })
    if (options.role === 'gateway') {
      await mountGateway(app, {
        settings: gateway!,
        local: [...instances.values()],
        remote: remote.map((s) => {
          const upstream = upstreamOf(s.contract.name)
          if (!upstream)
            throw new ConfigError(
              `${envPrefix(s.contract.name)}_SERVICE_URL`,
              'is required for a service the gateway proxies, unless DISCOVERY=nats finds it',
              undefined,
            )
          return { contract: s.contract as Contract, upstream }
        }),
        identity: makeClient(identityContract, platform, 'gateway'),
        authorizer: platform.authorizer,
        ...(credentials ? { credentials } : {}),
        corsOrigins: splitList(config.CORS_ORIGINS),
        requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
        version,
        ops: {
          sources: {
            local: ops,
            localServices: [...instances.keys()],
            remote: () => remote.map((s) => upstreamOf(s.contract.name)!),
          },
          orders: makeClient(ordersContract, platform, 'gateway'),
          url: () => address,
        },
      })
    } else {
      const instance = [...instances.values()][0]!
      trustEdge(app, credentials!)
      await app.register(serviceRoutes(instance, { requestTimeoutMs: config.REQUEST_TIMEOUT_MS }))
      await app.register(actionsEndpoint(instance, config.REQUEST_TIMEOUT_MS))
      await app.register(opsEndpoint(ops, credentials!))
    }
    const port = options.port ?? config.PORT
    address = await app.listen({ port, host: config.HOST }).catch((error: unknown) => {
      throw listenError(error, options.portVariable ?? 'PORT', port, config.HOST)
    })
    const metrics = await openMetrics(config.METRICS_PORT, port, config.HOST)
    readiness.state = 'ready'
    if (options.role === 'service')
      await registry.join({
        service: name,
        id: instanceId(),
        url: address,
        version,
        startedAt: new Date().toISOString(),
      })
    log.info(
      {
        url: address,
        metrics: metrics?.url,
        services: [...instances.keys()],
        remote: remote.map((s) => s.contract.name),
        database: engine.kind,
      },
      'mosaic ready',
    )
    // `mosaic services start` learns from this file that the process is ready and where it listens,
    // whatever LOG_LEVEL leaves out of the log.
    if (env.MOSAIC_READY_FILE) {
      await writeFile(`${env.MOSAIC_READY_FILE}.tmp`, JSON.stringify({ url: address }))
      await rename(`${env.MOSAIC_READY_FILE}.tmp`, env.MOSAIC_READY_FILE) // whole, or not there yet
    }

    let stopping: Promise<void> | undefined
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        const timer = setTimeout(
          () => log.error('shutdown is taking longer than SHUTDOWN_TIMEOUT_MS'),
          config.SHUTDOWN_TIMEOUT_MS,
        ).unref()
        // Callers stop choosing this instance before it stops taking requests (discovery/registry.ts).
        await drainFirst(registry, env)
        readiness.state = 'draining'
        await app!.close()
        await metrics?.close()
        for (const instance of instances.values()) await instance.stop()
        await bus.stop()
        await Promise.all([...upstreams.values()].map((u) => u.close()))
        await registry.close()
        await cache.close()
        await Promise.all([engine, ...engines.values()].map((e) => e.close()))
        await stopTracing()
        clearTimeout(timer)
        log.info('stopped')
      })())
    return {
      url: address,
      ...(metrics ? { metricsUrl: metrics.url } : {}),
      app,
      engine,
      engineOf,
      bus,
      services: instances,
      log,
      replay,
      stop,
    }
  } catch (error) {
    await app?.close().catch(() => {})
    await registry.close().catch(() => {})
    // Services already started may run loops of their own (sagas, mail senders): end them before the database goes.
    for (const instance of instances.values()) await instance.stop().catch(() => {})
    await bus.stop().catch(() => {})
    await cache.close().catch(() => {})
    await Promise.all([engine, ...engines.values()].map((e) => e.close().catch(() => {})))
    throw error
  }
}

/** METRICS_PORT: "off", a port, or by default 9464 (any free port when the public one is also chosen so). */
function openMetrics(
  setting: string | undefined,
  publicPort: number,
  host: string,
): Promise<MetricsServer | undefined> | undefined {
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
    node.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        node.log.error({ err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}
