// The layering that keeps services independent, checked on the import statements themselves;
// and the route table, checked against the contracts of the whole system.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { topology } from '../src/runtime/topology.ts'
import type { Contract } from '../src/kit/contract.ts'
import { opsContract } from '../src/gateway/ops/contract.ts'
import { readRouteTables, unlistedRoutes, defaultRouteTable } from '../src/gateway/route-table.ts'

const root = resolve(import.meta.dirname, '..', 'src')

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true })
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => join(e.parentPath, e.name))
}

async function importsOf(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8')
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)].map((m) =>
    resolve(dirname(file), m[1]!),
  )
}

const area = (path: string): string[] => relative(root, path).split(sep)

test('a service imports other services only through their contract, and never the runtime or gateway', async () => {
  const violations: string[] = []
  for (const file of await sourceFiles(join(root, 'services'))) {
    const [, own] = area(file)
    for (const target of await importsOf(file)) {
      const [top, service, ...rest] = area(target)
      if (top === 'services' && service !== own && rest.join('/') !== 'contract.ts')
        violations.push(`${relative(root, file)} → ${relative(root, target)}`)
      if (top === 'runtime' || top === 'gateway' || top === 'cli')
        violations.push(`${relative(root, file)} → ${relative(root, target)}`)
      if (top === 'kit' && [service, ...rest].join('/') !== 'index.ts')
        violations.push(`${relative(root, file)} → ${relative(root, target)} (import the kit from kit/index.ts)`)
    }
  }
  assert.deepEqual(violations, [])
})

test('the gateway and the runtime reach a service only through its contract; topology.ts alone names implementations', async () => {
  const violations: string[] = []
  for (const layer of ['gateway', 'runtime']) {
    for (const file of await sourceFiles(join(root, layer))) {
      for (const target of await importsOf(file)) {
        const [top, , ...rest] = area(target)
        const path = rest.join('/')
        const definition = relative(root, file) === join('runtime', 'topology.ts') && path === 'service.ts'
        if (top === 'services' && path !== 'contract.ts' && !definition)
          violations.push(`${relative(root, file)} → ${relative(root, target)}`)
        if (layer === 'gateway' && (top === 'runtime' || top === 'cli'))
          violations.push(`${relative(root, file)} → ${relative(root, target)}`)
      }
    }
  }
  assert.deepEqual(violations, [])
})

test('the kit depends on no service, gateway, runtime or CLI code', async () => {
  const violations: string[] = []
  for (const file of await sourceFiles(join(root, 'kit'))) {
    for (const target of await importsOf(file)) {
      if (area(target)[0] !== 'kit') violations.push(`${relative(root, file)} → ${relative(root, target)}`)
    }
  }
  assert.deepEqual(violations, [])
})

test('the checks above can fail: they see a cross-service import when there is one', async () => {
  const text = `import { x } from '../catalog/products.ts'`
  const match = [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)]
  assert.equal(match.length, 1)
  const [top, service, ...rest] = area(resolve(join(root, 'services', 'orders'), match[0]![1]!))
  assert.deepEqual([top, service, rest.join('/')], ['services', 'catalog', 'products.ts'])
})

test('policies/routes/ lists every route of every contract, and nothing that is not one', () => {
  const routes = readRouteTables([defaultRouteTable])
  // The operator API is the gateway's own (src/gateway/ops/), listed like a service's routes.
  const contracts: Contract[] = [...topology.map((s) => s.definition.contract), opsContract]
  assert.deepEqual(unlistedRoutes(contracts, routes), [], 'routes no table lists (the gateway would refuse to start)')
  const real = new Set(contracts.flatMap((c) => Object.values(c.routes).map((r) => `${r.method} ${r.path}`)))
  assert.deepEqual(
    Object.keys(routes).filter((route) => !real.has(route)),
    [],
    'entries for routes no contract has (stale, or a typo)',
  )
})

test('every role the route table names is a role of policies/roles.json', async () => {
  const roles = Object.keys(
    JSON.parse(await readFile(resolve(root, '..', 'policies', 'roles.json'), 'utf8')) as Record<string, string[]>,
  )
  const named = Object.entries(readRouteTables([defaultRouteTable])).flatMap(([route, access]) =>
    [...(access.roles ?? []), ...(access.others ?? [])].map((role) => ({ route, role })),
  )
  assert.ok(named.length > 0)
  assert.deepEqual(
    named.filter(({ role }) => !roles.includes(role)),
    [],
  )
})

test('the route table check can fail: it sees an unlisted route', () => {
  const fewer = { ...readRouteTables([defaultRouteTable]) }
  delete fewer['POST /api/products']
  const catalog = topology.find((s) => s.definition.contract.name === 'catalog')!.definition.contract as Contract
  assert.deepEqual(unlistedRoutes([catalog], fewer), ['POST /api/products'])
})
