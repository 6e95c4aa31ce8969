// The OpenAPI 3.1 document, built from the contracts alone: the gateway can describe a service
// that runs in another process without loading its code. JSON Schema 2020-12 is OpenAPI 3.1's
// schema language, so TypeBox schemas go in as they are.
import type { TSchema } from 'typebox'
import type { Contract, RouteSpec } from '../kit/contract.ts'
import type { RouteAccess } from './route-table.ts'
import { errorSpec } from '../kit/errors.ts'

type Obj = Record<string, unknown>

const problem = {
  type: 'object',
  description: 'RFC 9457 problem details',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    code: { type: 'string', description: 'Stable error code' },
    retryable: { type: 'boolean' },
    traceId: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: { path: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
}

function parameters(schema: TSchema | undefined, where: 'path' | 'query'): Obj[] {
  if (!schema) return []
  const { properties = {}, required = [] } = schema as { properties?: Record<string, Obj>; required?: string[] }
  return Object.entries(properties).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.includes(name),
    schema: s,
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
  }))
}

/** What the route table demands of the caller, as OpenAPI security and the answers it brings. */
function access(entry: RouteAccess | undefined): { security: Obj[]; statuses: string[]; note: string } {
  const limited = entry?.rateLimit ? ['429'] : []
  if (!entry || entry.auth === 'public') return { security: [], statuses: limited, note: '' }
  // `{}` among the alternatives: no credentials at all is accepted too (OpenAPI 3.1 §4.8.10).
  if (entry.auth === 'optional')
    return {
      security: [{}, { bearer: [] }, { session: [] }],
      statuses: ['401', ...limited],
      note: 'Signed in or anonymous.',
    }
  const roles = entry.roles ? ` Roles: ${entry.roles.join(' or ')}.` : ''
  return {
    security: [{ bearer: [] }, { session: [] }],
    statuses: ['401', ...(entry.roles ? ['403'] : []), ...limited],
    note: `Requires a signed-in caller.${roles}`,
  }
}

/**
 * A streamed body (an upload) is described in each of its content types by the route's `body`
 * schema when it has one (the form's fields, a file as `format: binary`), else as bytes.
 */
function requestContent(route: RouteSpec): Obj {
  if (!route.stream) return { 'application/json': { schema: route.body } }
  return Object.fromEntries(
    route.stream.map((type) => [type, { schema: route.body ?? { type: 'string', contentMediaType: type } }]),
  )
}

/** JSON by the response schema; each other type a route `produces` (files, CSV, HTML) as a string of that type. */
function responseContent(route: RouteSpec): Obj {
  if (!route.produces) return { 'application/json': { schema: route.response } }
  return Object.fromEntries(
    route.produces.map((type) => [
      type,
      { schema: type === 'application/json' ? route.response : { type: 'string', contentMediaType: type } },
    ]),
  )
}

function operation(contract: Contract, key: string, route: RouteSpec, entry: RouteAccess | undefined): Obj {
  const status = String(route.status ?? 200)
  const demands = access(entry)
  // The route's own error codes, by status: each status's answer names the codes it may carry.
  const codesByStatus = new Map<string, string[]>()
  for (const code of route.errors ?? []) {
    const spec = errorSpec(code)
    if (!spec) throw new Error(`${contract.name}.${key} lists error ${code}, which no defineErrors declares`)
    codesByStatus.set(String(spec.status), [...(codesByStatus.get(String(spec.status)) ?? []), code])
  }
  const errorStatuses = [
    ...new Set([
      '400',
      ...demands.statuses,
      ...(route.body || route.stream ? ['413', '415', '422'] : []),
      ...codesByStatus.keys(),
    ]),
  ]
  const problem = (status: string): Obj => {
    const named = codesByStatus.get(status)
    return named
      ? { $ref: '#/components/responses/Problem', description: `Error codes: ${named.join(', ')}` }
      : { $ref: '#/components/responses/Problem' }
  }
  return {
    operationId: `${contract.name}.${key}`,
    summary: route.summary,
    ...(demands.note ? { description: demands.note } : {}),
    security: demands.security,
    tags: [contract.name],
    parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
    ...(route.body || route.stream ? { requestBody: { required: true, content: requestContent(route) } } : {}),
    responses: {
      [status]:
        status === '204' ? { description: 'No content' } : { description: 'Success', content: responseContent(route) },
      ...(route.produces?.some((t) => t !== 'application/json') && route.method === 'GET'
        ? { 206: { description: 'Part of the content (Range)' }, 304: { description: 'Not modified (If-None-Match)' } }
        : {}),
      ...Object.fromEntries(errorStatuses.map((s) => [s, problem(s)])),
      default: { $ref: '#/components/responses/Problem' },
    },
  }
}

export function openApiDocument(
  contracts: readonly Contract[],
  version: string,
  table: (route: string) => RouteAccess | undefined,
): Obj {
  const paths: Record<string, Obj> = {}
  for (const contract of contracts) {
    for (const [key, route] of Object.entries(contract.routes)) {
      const path = route.path.replace(/:(\w+)/g, '{$1}')
      paths[path] = {
        ...paths[path],
        [route.method.toLowerCase()]: operation(contract, key, route, table(`${route.method} ${route.path}`)),
      }
    }
  }
  return JSON.parse(
    JSON.stringify({
      openapi: '3.1.0',
      info: {
        title: 'Mosaic API',
        version,
        description: 'Public API of the Mosaic reference system, served through the gateway.',
      },
      tags: contracts.map((c) => ({ name: c.name })),
      paths,
      components: {
        schemas: { Problem: problem },
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'Access token from POST /api/users/login',
          },
          session: {
            type: 'apiKey',
            in: 'cookie',
            name: '__Host-mosaic-session',
            description:
              'Browser session from POST /api/users/login?session=cookie; unsafe methods also need X-CSRF-Token',
          },
        },
        responses: {
          Problem: {
            description: 'Error',
            content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
          },
        },
      },
    }),
  )
}
