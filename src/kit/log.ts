import pino, { type Logger } from 'pino'
import { trace } from '@opentelemetry/api'

export type { Logger }

/**
 * The process's logger: JSON lines (pretty on a terminal) carrying, inside a span, the trace id.
 * Each service logs through a child that adds its name (`log.child({ service })`).
 * LOG_LEVEL sets the level; LOG_PRETTY=false forces JSON on a terminal.
 */
export function createLogger(env: NodeJS.ProcessEnv = process.env): Logger {
  const pretty = process.stdout.isTTY && env.LOG_PRETTY !== 'false'
  return pino({
    level: env.LOG_LEVEL || 'info',
    base: undefined,
    mixin() {
      const span = trace.getActiveSpan()?.spanContext()
      return span && span.traceId !== '00000000000000000000000000000000'
        ? { trace_id: span.traceId, span_id: span.spanId }
        : {}
    },
    transport: pretty ? { target: 'pino-pretty', options: { ignore: 'pid,hostname' } } : undefined,
  })
}
