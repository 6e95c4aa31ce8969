// The route table (policies/routes/, a file per service): per public route, whether the caller must be signed in
// and which roles may call it. Data, not code; checked against the contracts at start so that a
// new route cannot go out unlisted (and so silently public). A table may list routes of services
// this process does not run; test/architecture.test.ts checks it against the whole topology.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import FindMyWay from 'find-my-way'
import Type, { type Static } from 'typebox'
import type { Contract } from '../kit/contract.ts'
import { validator } from '../kit/validation.ts'
import { METHODS } from '../kit/internal/allowed-methods.ts'

const Entry = Type.Object(
  {
    auth: Type.Union([Type.Literal('public'), Type.Literal('optional'), Type.Literal('required')]),
    roles: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
    owned: Type.Optional(Type.Boolean()),
    others: Type.Optional(Type.Array(Type.String())),
    /** At most `max` requests per client (signed-in user, else address) per window, per route. */
    rateLimit: Type.Optional(
      Type.Object(
        {
          max: Type.Integer({ minimum: 1 }),
          windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
        },
        { additionalProperties: false },
      ),
    ),
    /** A request body limit (bytes) for this route, below the process-wide BODY_LIMIT. */
    bodyLimit: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
)
const File = Type.Object({
  $comment: Type.Optional(Type.String()),
  routes: Type.Record(Type.String({ pattern: '^(GET|POST|PUT|PATCH|DELETE) /api/' }), Entry),
})

export type RouteAccess = Static<typeof Entry>

/** A request's entry, with the route it is listed under (`POST /api/orders`). */
export interface RouteMatch {
  readonly route: string
  readonly access: RouteAccess
}

export interface RouteTable {
  readonly entries: Readonly<Record<string, RouteAccess>>
  /** The entry of the route a request is for (`GET /api/users/123`), if any. */
  match(method: string, path: string): RouteMatch | undefined
  /** The methods some route answers `path` with (HEAD wherever GET), for a 405's Allow: empty when none. */
  allowed(path: string): string[]
}

export const defaultRouteTable = fileURLToPath(new URL('../../policies/routes', import.meta.url))

/** A folder stands for the .json files in it, in name order. */
function tableFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path]
  return readdirSync(path)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(path, f))
}

/** Reads the tables (GATEWAY_ROUTES: the repo's own folder, plus any files a deployment adds). */
export function readRouteTables(paths: readonly string[]): Record<string, RouteAccess> {
  const routes: Record<string, RouteAccess> = {}
  for (const file of paths.flatMap(tableFiles)) {
    const table = validator(File).parse(JSON.parse(readFileSync(file, 'utf8'))).routes
    for (const [route, access] of Object.entries(table)) {
      if (routes[route]) throw new Error(`${file}: ${route} is already listed in another route table`)
      routes[route] = access
    }
  }
  return routes
}

/** The routes of these contracts that no table lists: each would be reachable by nobody. */
export function unlistedRoutes(
  contracts: readonly Contract[],
  routes: Readonly<Record<string, RouteAccess>>,
): string[] {
  return contracts.flatMap((c) => Object.values(c.routes).map((r) => `${r.method} ${r.path}`)).filter((r) => !routes[r])
}

export function loadRouteTable(
  contracts: readonly Contract[],
  files: readonly string[] = [defaultRouteTable],
): RouteTable {
  const routes = readRouteTables(files)
  const unlisted = unlistedRoutes(contracts, routes)
  if (unlisted.length > 0) throw new Error(`route table (${files.join(', ')}) does not list ${unlisted.join(', ')}`)
  const router = FindMyWay({ ignoreTrailingSlash: true })
  for (const [route, access] of Object.entries(routes)) {
    const [method, path] = route.split(' ') as [FindMyWay.HTTPMethod, string]
    router.on(method, path, () => {}, { route, access } satisfies RouteMatch)
  }
  return {
    entries: routes,
    match(method, path) {
      return router.find(method as FindMyWay.HTTPMethod, path)?.store as RouteMatch | undefined
    },
    allowed(path) {
      return METHODS.filter((method) => router.find(method === 'HEAD' ? 'GET' : method, path) !== null)
    },
  }
}
