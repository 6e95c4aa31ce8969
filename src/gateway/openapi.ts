// The OpenAPI 3.1 document, built from the contracts alone: the gateway can describe a service
// that runs in another process without loading its code. JSON Schema 2020-12 is OpenAPI 3.1's
// schema language, so TypeBox schemas go in as they are.
import type { TSchema } from 'typebox'
import type { Contract, RouteSpec } from '../kit/contract.ts'
import type { RouteAccess } from './route-table.ts'

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
    errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } } } },
  },
}

function parameters(schema: TSchema | undefined, where: 'path' | 'query'): Obj[] {
  if (!schema) return []
  const { properties = {}, required = [] } = schema as { properties?: Record<string, Obj>, required?: string[] }
  return Object.entries(properties).map(([name, s]) => ({
    name, in: where, required: where === 'path' || required.includes(name), schema: s,
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
  }))
}

/** What the route table demands of the caller, as OpenAPI security and the answers it brings. */
function access(entry: RouteAccess | undefined): { security: Obj[], statuses: string[], note: string } {
  if (!entry || entry.auth === 'public') return { security: [], statuses: [], note: '' }
  const roles = entry.roles ? ` Roles: ${entry.roles.join(' or ')}.` : ''
  return {
    security: [{ bearer: [] }, { session: [] }],
    statuses: ['401', ...(entry.roles ? ['403'] : [])],
    note: `Requires a signed-in caller.${roles}`,
  }
}

function operation(contract: Contract, key: string, route: RouteSpec, entry: RouteAccess | undefined): Obj {
  const status = String(route.status ?? 200)
  const demands = access(entry)
  const errorStatuses = [...new Set(['400', ...demands.statuses, ...(route.body ? ['413', '415', '422'] : []), ...(route.errors ?? [])])]
  return {
    operationId: `${contract.name}.${key}`,
    summary: route.summary,
    ...(demands.note ? { description: demands.note } : {}),
    security: demands.security,
    tags: [contract.name],
    parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
    ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: route.body } } } } : {}),
    responses: {
      [status]: status === '204' ? { description: 'No content' } : { description: 'Success', content: { 'application/json': { schema: route.response } } },
      ...Object.fromEntries(errorStatuses.map((s) => [s, { $ref: '#/components/responses/Problem' }])),
      default: { $ref: '#/components/responses/Problem' },
    },
  }
}

export function openApiDocument(contracts: readonly Contract[], version: string, table: (route: string) => RouteAccess | undefined): Obj {
  const paths: Record<string, Obj> = {}
  for (const contract of contracts) {
    for (const [key, route] of Object.entries(contract.routes)) {
      const path = route.path.replace(/:(\w+)/g, '{$1}')
      paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation(contract, key, route, table(`${route.method} ${route.path}`)) }
    }
  }
  return JSON.parse(JSON.stringify({
    openapi: '3.1.0',
    info: { title: 'Mosaic API', version, description: 'Public API of the Mosaic reference system, served through the gateway.' },
    tags: contracts.map((c) => ({ name: c.name })),
    paths,
    components: {
      schemas: { Problem: problem },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Access token from POST /api/users/login' },
        session: { type: 'apiKey', in: 'cookie', name: '__Host-mosaic-session', description: 'Browser session from POST /api/users/login?session=cookie; unsafe methods also need X-CSRF-Token' },
      },
      responses: { Problem: { description: 'Error', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } } },
    },
  }))
}
