import { randomUUID } from 'node:crypto'
import type { CloudEvent } from '../contract.ts'
import { traceHeaders } from '../telemetry/tracing.ts'

/** Wraps `data` in a CloudEvents 1.0 envelope, carrying the active trace context. */
export function cloudEvent<T>(service: string, type: string, data: T, subject?: string): CloudEvent<T> {
  const trace = traceHeaders()
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: `/mosaic/${service}`,
    type,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    ...(subject === undefined ? {} : { subject }),
    ...(trace.traceparent ? { traceparent: trace.traceparent } : {}),
    ...(trace.tracestate ? { tracestate: trace.tracestate } : {}),
    data,
  }
}
