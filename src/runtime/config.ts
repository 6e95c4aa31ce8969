import Type from 'typebox'
import { Env, envPrefix } from '../kit/config.ts'
import { DEFAULT_RECENT_TRACES, DEFAULT_RECENT_TRACES_PER_SECOND } from '../kit/telemetry/tracing.ts'
import { BusSettings } from '../kit/events/settings.ts'

/** The variables every Mosaic process reads. Services add their own (see each service's config). */
export const RuntimeConfig = Type.Object({
  PORT: Env.port(8080, 'Port of the gateway (`mosaic start`)'),
  HOST: Type.String({ default: '127.0.0.1', description: 'Interface to listen on (`0.0.0.0` in a container)' }),
  DATA_DIR: Type.String({
    default: '.mosaic',
    description: 'Where embedded PGlite keeps its files; `:memory:` keeps nothing',
  }),
  DATABASE_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description:
        'Use this PostgreSQL server instead of PGlite for every service without a <NAME>_DATABASE_URL of its own (a schema and a database role per service; the user needs CREATEROLE)',
    }),
  ),
  DATABASE_POOL_SIZE: Env.positive(10, 'Connections per service schema on a PostgreSQL server'),
  CALL_TIMEOUT_MS: Env.positive(5_000, 'Deadline of a call between services when the caller sets none'),
  REQUEST_TIMEOUT_MS: Env.positive(30_000, 'Deadline of a public request (504 after)'),
  BODY_LIMIT: Env.positive(
    1_048_576,
    'Largest request body, bytes; larger → 413 (a route may set its own in the route table)',
  ),
  HEADER_LIMIT: Type.Integer({
    minimum: 1024,
    maximum: 1_048_576,
    default: 16_384,
    description: 'Largest request head, bytes; larger → 431',
  }),
  HEADERS_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    default: 10_000,
    description: "Time a client has to send a request's head; slower → connection closed",
  }),
  RECEIVE_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    default: 30_000,
    description:
      'Time a client has to send a whole request, head and body (at least HEADERS_TIMEOUT_MS); slower → connection closed',
  }),
  IDLE_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    default: 60_000,
    description: 'Time a connection may stay silent, a request in flight or not; longer → closed',
  }),
  KEEP_ALIVE_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    default: 72_000,
    description:
      "Time an idle kept-alive connection stays open between requests (above a load balancer's own, 60 s on AWS)",
  }),
  MAX_CONNECTIONS_PER_CLIENT: Type.Integer({
    minimum: 0,
    default: 256,
    description:
      'Connections one client address may hold open; more are closed at once. 0: no cap (set 0 or raise it behind a proxy, whose address all clients then share)',
  }),
  METRICS_PORT: Type.Optional(
    Type.String({
      pattern: '^(off|[0-9]{1,5})$',
      description:
        'Port of GET /metrics (Prometheus), apart from the public one; "off": none. Default 9464, or any free port when PORT is 0',
    }),
  ),
  TRUST_PROXY: Type.String({
    default: '',
    description: 'Proxies whose X-Forwarded-For is believed: "true", or addresses/CIDRs, comma-separated',
  }),
  MOSAIC_INTERNAL_SECRET: Type.Optional(
    Type.String({
      minLength: 32,
      description: 'Shared by the gateway and services in separate processes to sign callers',
    }),
  ),
  CORS_ORIGINS: Type.String({
    default: '',
    description:
      'Origins allowed to call the API from a browser (and to send cookie-authenticated unsafe requests), comma-separated',
  }),
  SHUTDOWN_TIMEOUT_MS: Env.positive(10_000, 'Log an error if graceful shutdown takes longer'),
  EVENT_MAX_ATTEMPTS: Env.positive(8, 'Deliveries of an event to a failing handler before it is dead-lettered'),
  EVENT_RETRY_BASE_MS: Env.positive(
    250,
    'First retry delay of a failing handler (doubles each attempt, with jitter, up to 60 s)',
  ),
  EVENT_POLL_MS: Env.positive(
    250,
    'How often relays and the bus look for work when not woken by a commit (retries due, other processes)',
  ),
  ...BusSettings,
  NATS_STREAM_MAX_AGE_SECONDS: Type.Integer({
    minimum: 60,
    default: 7 * 86_400,
    description: 'How long the broker keeps events (a consumer started later still gets them)',
  }),
  NATS_ACK_WAIT_SECONDS: Type.Integer({
    minimum: 1,
    default: 30,
    description: 'A delivery not acknowledged within this time goes to another replica (a consumer died mid-batch)',
  }),
  CACHE_TTL_MS: Env.positive(
    30_000,
    'Longest a cached read may be served: the staleness bound across processes without REDIS_URL',
  ),
  CACHE_MAX_ENTRIES: Type.Integer({
    minimum: 0,
    default: 10_000,
    description: 'Entries of the read cache (ctx.cache) at most; 0 turns it off',
  }),
  CACHE_MAX_BYTES: Env.positive(
    64 * 1024 * 1024,
    'Size of the read cache at most, bytes (estimated from the JSON of each entry)',
  ),
  REDIS_URL: Type.Optional(
    Type.String({
      pattern: '^rediss?://',
      description: "Redis: carries cache invalidations between processes, and keeps the gateways' shared rate limits",
    }),
  ),
  NATS_DUPLICATE_WINDOW_SECONDS: Type.Integer({
    minimum: 1,
    default: 120,
    description: 'The broker drops an event id published again within this window',
  }),
  // Read by the logger (kit/log.ts) and the tracer (kit/telemetry/tracing.ts); declared here so a
  // typo stops the process with one line, and so they are documented with the rest.
  LOG_LEVEL: Type.String({
    pattern: '^(fatal|error|warn|info|debug|trace|silent)$',
    default: 'info',
    description: 'pino log level (`silent` mutes)',
  }),
  LOG_PRETTY: Type.Optional(
    Type.Boolean({
      description:
        'Logs are pretty on a terminal and JSON lines otherwise; `false` forces JSON lines on a terminal too',
    }),
  ),
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(
    Env.url('Export spans over OTLP/HTTP to this collector; unset: no spans are recorded (trace ids are still made)'),
  ),
  OTEL_SERVICE_NAME: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        "Service name of the process's own spans (default: the service, or `gateway`); spans of the services inside name their service",
    }),
  ),
  RECENT_TRACES: Type.Integer({
    minimum: 0,
    maximum: 10_000,
    default: DEFAULT_RECENT_TRACES,
    description:
      "Traces this process keeps in memory (each up to 500 spans) for the operator console's waterfall; 0: none, and spans are recorded only when exported",
  }),
  RECENT_TRACES_PER_SECOND: Type.Integer({
    minimum: 1,
    maximum: 10_000,
    default: DEFAULT_RECENT_TRACES_PER_SECOND,
    description:
      'New traces a second the operator console keeps (every one below that); the others are not recorded unless exported',
  }),
  TRACE_TRUST_INCOMING: Type.Boolean({
    default: false,
    description:
      "The gateway continues the trace of an incoming `traceparent` (a trusted proxy in front); false: it starts a new trace and links the caller's",
  }),
})

/** Where one service runs: its port when served alone, or the URL of an instance running elsewhere. */
export const ServiceAddress = (service: string, port: number) =>
  Type.Object({
    [`${envPrefix(service)}_SERVICE_PORT`]: Env.port(port, `Port of \`mosaic serve ${service}\``),
    [`${envPrefix(service)}_SERVICE_URL`]: Type.Optional(
      Env.url(
        `Run ${service} elsewhere: \`mosaic start\` does not start it, proxies its routes and calls its actions at this URL`,
      ),
    ),
    [`${envPrefix(service)}_DATABASE_URL`]: Type.Optional(
      Type.String({
        pattern: '^postgres(ql)?://',
        description: `A PostgreSQL database of ${service}'s own (with BUS=nats); unset: DATABASE_URL`,
      }),
    ),
  })
