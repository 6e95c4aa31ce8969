// Client-side tracking: checks what a browser or app sends beyond what the schema can say
// (who it is, how big and deep the properties are, whether the time is plausible), then records it.
import { randomUUID } from 'node:crypto'
import { MosaicError, type FieldIssue, type Identity, type Static } from '../../kit/index.ts'
import { VISITOR_ID, type analyticsContract } from './contract.ts'
import type { Recorded } from './events.ts'

type TrackBody = Static<typeof analyticsContract.routes.track.body>

export interface TrackPolicy {
  /** How far back a client's timestamp may be (events queued offline), seconds. */
  readonly maxAgeSeconds: number
  /** How far ahead of our clock a client's timestamp may be (clock skew), seconds. */
  readonly maxSkewSeconds: number
}

export const PROPERTIES_MAX_BYTES = 4096
export const PROPERTIES_MAX_DEPTH = 3
const PRODUCT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

const invalid = (...issues: FieldIssue[]): MosaicError => new MosaicError('validation_failed', { issues })

/** Nesting depth of a JSON value: a scalar is 0, `{a: 1}` is 1. */
function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0
  let deepest = 0
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child))
  return deepest + 1
}

function visitorOf(body: TrackBody, header: string | string[] | undefined): string | undefined {
  if (Array.isArray(header))
    throw invalid({ path: '/headers/x-visitor-id', code: 'multiple', message: 'must be sent once' })
  if (header !== undefined && !VISITOR_ID.test(header))
    throw invalid({ path: '/headers/x-visitor-id', code: 'pattern', message: `must match ${VISITOR_ID.source}` })
  if (header !== undefined && body.visitorId !== undefined && header !== body.visitorId) {
    throw invalid({ path: '/visitorId', code: 'mismatch', message: 'differs from the X-Visitor-Id header' })
  }
  return body.visitorId ?? header
}

function timeOf(timestamp: string | undefined, policy: TrackPolicy, now: number): string {
  if (timestamp === undefined) return new Date(now).toISOString()
  const at = Date.parse(timestamp)
  if (Number.isNaN(at)) throw invalid({ path: '/timestamp', code: 'format', message: 'must be an ISO 8601 date-time' })
  if (at > now + policy.maxSkewSeconds * 1000)
    throw invalid({
      path: '/timestamp',
      code: 'future',
      message: `must not be more than ${policy.maxSkewSeconds} s ahead of the server's clock`,
    })
  if (at < now - policy.maxAgeSeconds * 1000)
    throw invalid({
      path: '/timestamp',
      code: 'too_old',
      message: `must not be more than ${policy.maxAgeSeconds} s in the past`,
    })
  return new Date(at).toISOString()
}

/** The tracking event to record, or a 422 naming every field that is wrong. */
export function trackedEvent(
  body: TrackBody,
  visitorHeader: string | string[] | undefined,
  identity: Identity | undefined,
  policy: TrackPolicy,
  now = Date.now(),
): Recorded {
  const visitorId = visitorOf(body, visitorHeader)
  if (!identity && visitorId === undefined) {
    throw invalid({
      path: '/visitorId',
      code: 'required',
      message: 'is required when not signed in (or send the X-Visitor-Id header)',
    })
  }
  const properties = body.properties ?? {}
  const bytes = Buffer.byteLength(JSON.stringify(properties))
  if (bytes > PROPERTIES_MAX_BYTES)
    throw invalid({
      path: '/properties',
      code: 'too_large',
      message: `must be at most ${PROPERTIES_MAX_BYTES} bytes as JSON (is ${bytes})`,
    })
  if (depthOf(properties) > PROPERTIES_MAX_DEPTH)
    throw invalid({
      path: '/properties',
      code: 'too_deep',
      message: `must nest at most ${PROPERTIES_MAX_DEPTH} levels`,
    })
  const productId = properties.productId
  if (body.name === 'product_viewed' && (typeof productId !== 'string' || !PRODUCT_ID.test(productId))) {
    throw invalid({
      path: '/properties/productId',
      code: 'required',
      message: 'product_viewed needs the product id viewed',
    })
  }
  return {
    id: randomUUID(),
    source: 'client',
    type: body.name,
    time: timeOf(body.timestamp, policy, now),
    subject: typeof productId === 'string' ? productId : null,
    // The catalogue is shared by all tenants; an anonymous visitor is counted in the default one.
    tenantId: identity?.tenantId ?? 'default',
    userId: identity?.userId ?? null,
    visitorId: visitorId ?? null,
    data: properties,
  }
}
