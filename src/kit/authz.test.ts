import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { loadPolicies, validatePolicies, type Principal, type Resource } from './authz.ts'

const policies = new URL('../../policies/', import.meta.url)
const temporary: string[] = []
after(() => {
  for (const path of temporary) rmSync(path, { recursive: true, force: true })
})

/** A copy of the repo's policies with `files` added or replaced, in a fresh temporary folder. */
function policyDir(files: Record<string, string>): { dir: URL; path: string } {
  const path = mkdtempSync(join(tmpdir(), 'mosaic-authz-'))
  temporary.push(path)
  cpSync(policies, path, { recursive: true })
  for (const [name, text] of Object.entries(files)) writeFileSync(join(path, name), text)
  return { dir: pathToFileURL(`${path}/`), path }
}

const customer: Principal = { userId: 'cus', tenantId: 't1', roles: ['customer'] }
const otherCustomer: Principal = { userId: 'cus2', tenantId: 't1', roles: ['customer'] }
const staff: Principal = { userId: 'stf', tenantId: 't1', roles: ['staff'] }
const foreignStaff: Principal = { userId: 'stf2', tenantId: 't2', roles: ['staff'] }
const admin: Principal = { userId: 'adm', tenantId: 't1', roles: ['admin'] }
const foreignAdmin: Principal = { userId: 'adm2', tenantId: 't2', roles: ['admin'] }

const user = (id: string, tenantId = 't1'): Resource => ({ type: 'User', id, tenantId })
const order: Resource = { type: 'Order', id: 'o1', tenantId: 't1', ownerId: 'cus' }
const product: Resource = { type: 'Product', id: 'p1' }
const tenant = (id: string): Resource => ({ type: 'Tenant', id })

test('the policies validate against the schema in strict mode', () => {
  assert.deepEqual(validatePolicies(), [])
})

test('decisions', () => {
  const { authorize } = loadPolicies()
  const cases: [string, Principal, string, Resource, boolean][] = [
    ['customer reads self', customer, 'users:read', user('cus'), true],
    ['customer updates self', customer, 'users:update', user('cus'), true],
    ['customer reads another user', customer, 'users:read', user('cus2'), false],
    ['customer sets own roles', customer, 'users:setRoles', user('cus'), false],
    ['customer lists users', customer, 'users:list', tenant('t1'), false],
    ['admin reads a user of their tenant', admin, 'users:read', user('cus'), true],
    ['admin reads a user of another tenant', foreignAdmin, 'users:read', user('cus'), false],
    ['admin updates another user', admin, 'users:update', user('cus'), false],
    ['admin sets roles in their tenant', admin, 'users:setRoles', user('cus'), true],
    ['admin sets roles in another tenant', foreignAdmin, 'users:setRoles', user('cus'), false],
    ['admin lists users of their tenant', admin, 'users:list', tenant('t1'), true],
    ['admin lists users of another tenant', admin, 'users:list', tenant('t2'), false],
    ['staff writes products', staff, 'products:write', product, true],
    ['customer writes products', customer, 'products:write', product, false],
    ['admin writes products (admin includes staff)', admin, 'products:write', product, true],
    ['owner reads their order', customer, 'orders:read', order, true],
    ['owner cancels their order', customer, 'orders:cancel', order, true],
    ['another customer reads it', otherCustomer, 'orders:read', order, false],
    ['another customer cancels it', otherCustomer, 'orders:cancel', order, false],
    ['staff of the tenant read it', staff, 'orders:read', order, true],
    ['staff of the tenant cancel it', staff, 'orders:cancel', order, false],
    ['admin of the tenant reads it', admin, 'orders:read', order, true],
    ['staff of another tenant read it', foreignStaff, 'orders:read', order, false],
    ['customer lists orders of their tenant', customer, 'orders:list', tenant('t1'), true],
    ['staff list orders of their tenant', staff, 'orders:list', tenant('t1'), true],
    ['customer lists orders of another tenant', customer, 'orders:list', tenant('t2'), false],
    ['a user with no roles lists orders', { ...customer, roles: [] }, 'orders:list', tenant('t1'), false],
  ]
  // Twice: the second answer is remembered from the first, and each must be right on its own
  // (a remembered decision that leaked to a neighbouring case would fail one of them).
  for (const pass of ['asked', 'remembered']) {
    for (const [name, principal, action, resource, expected] of cases) {
      assert.equal(authorize(principal, action, resource), expected, `${name} (${pass})`)
    }
  }
})

test('a remembered decision is for its own inputs: one attribute of the resource apart is another decision', () => {
  const { authorize } = loadPolicies()
  for (let i = 0; i < 2; i++) {
    assert.equal(authorize(customer, 'orders:read', order), true)
    assert.equal(authorize(customer, 'orders:read', { ...order, ownerId: 'cus2' }), false)
    assert.equal(authorize(customer, 'orders:read', { ...order, tenantId: 't2' }), false)
    assert.equal(authorize({ ...customer, roles: [] }, 'orders:list', tenant('t1')), false)
    assert.equal(authorize(customer, 'orders:list', tenant('t1')), true)
  }
})

test('an order owned across the tenant boundary stays out of reach', () => {
  const { authorize } = loadPolicies()
  // The owner condition alone would allow this: the boundary forbid is what stops it.
  assert.equal(authorize(customer, 'orders:read', { ...order, tenantId: 't2' }), false)
})

test('anonymous callers are never permitted', () => {
  const { authorize } = loadPolicies()
  assert.equal(authorize(undefined, 'users:read', user('cus')), false)
  assert.equal(authorize(undefined, 'orders:list', tenant('t1')), false)
})

test('role names roles.json does not know grant nothing', () => {
  const { authorize } = loadPolicies()
  assert.equal(authorize({ ...customer, roles: ['superuser'] }, 'products:write', product), false)
  assert.equal(authorize({ ...staff, roles: ['superuser', 'staff'] }, 'products:write', product), true)
})

test('a request the schema does not allow is a programming error, anonymous or not', () => {
  const { authorize } = loadPolicies()
  for (const principal of [customer, undefined]) {
    assert.throws(() => authorize(principal, 'orders:reed', order), /unknown action "orders:reed"/)
    assert.throws(() => authorize(principal, 'orders:read', { ...order, type: 'Ordr' }), /does not apply to Ordr/)
  }
  assert.throws(
    () => authorize(customer, 'orders:read', { type: 'Order', id: 'o1', tenantId: 't1' }),
    /attribute `owner`/,
  )
  assert.throws(() => authorize(customer, 'users:read', user('cus'), { ip: '10.0.0.1' }), /attribute `ip`/)
})

test('policies are loaded once per folder', () => {
  assert.equal(loadPolicies(), loadPolicies(new URL('../../policies', import.meta.url)))
})

test('a policy file that does not parse is named, with its line', () => {
  const { dir, path } = policyDir({
    'broken.cedar': '@id("broken")\npermit (principal, action, resource) when { resource. };\n',
  })
  assert.throws(
    () => loadPolicies(dir),
    (e: unknown) => {
      assert.ok(e instanceof Error)
      assert.ok(e.message.includes(`${join(path, 'broken.cedar')}:2:`), e.message)
      return true
    },
  )
})

test('validation reports an undeclared attribute by file, line and policy, and loading refuses it', () => {
  const { dir, path } = policyDir({
    'extra.cedar':
      '// Refers to an attribute orders do not have.\n@id("extra.total")\npermit (principal, action == Mosaic::Action::"orders:read", resource)\nwhen { resource.total > 100 };\n',
  })
  const problems = validatePolicies(dir)
  assert.equal(problems.length, 1, problems.join('\n'))
  assert.ok(problems[0]!.startsWith(`${join(path, 'extra.cedar')}:4:8: `), problems[0])
  assert.match(problems[0]!, /extra\.total.*attribute `total` on entity type `Mosaic::Order` not found/)
  assert.throws(() => loadPolicies(dir), /attribute `total`/)
})

test('the tenant boundary holds even when a permit forgets it', () => {
  const { dir } = policyDir({
    'careless.cedar': '@id("careless")\npermit (principal, action == Mosaic::Action::"orders:read", resource);\n',
  })
  const { authorize } = loadPolicies(dir)
  assert.equal(authorize(otherCustomer, 'orders:read', order), true)
  assert.equal(authorize(foreignStaff, 'orders:read', order), false)
})

test('policies need a unique @id and known roles; roles.json may only name its own roles, without cycles', () => {
  const { dir } = policyDir({
    'a.cedar':
      '@id("same")\npermit (principal, action, resource) when { false };\npermit (principal, action, resource) when { false };\n',
    'b.cedar': '@id("same")\npermit (principal, action, resource) when { false };\n',
    'c.cedar':
      '\n@id("typo")\npermit (principal in Mosaic::Role::"admn", action == Mosaic::Action::"users:list", resource);\n',
    'roles.json': '{ "customer": ["admin"], "staff": ["customer"], "admin": ["staff", "owner"] }',
  })
  const problems = validatePolicies(dir).join('\n')
  assert.match(problems, /a\.cedar:3:1: policy has no @id/)
  assert.match(problems, /b\.cedar:1:1: @id\("same"\) is already used in .*a\.cedar/)
  assert.match(problems, /c\.cedar:2:1: role "admn" is not in roles\.json/)
  assert.match(problems, /role "admin" includes "owner", which is not a role/)
  assert.match(problems, /role "customer" includes itself/)
})

test('a start with policies validated before does not load Cedar until something is authorized', () => {
  loadPolicies() // validated, and remembered in node_modules/.cache/mosaic
  const script = `
    import { createRequire } from 'node:module'
    const { loadPolicies } = await import(${JSON.stringify(new URL('./authz.ts', import.meta.url).href)})
    const cedarLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('cedar_wasm'))
    const { authorize, effectiveRoles } = loadPolicies()
    const atStart = cedarLoaded()
    const roles = effectiveRoles(['admin'])
    const allowed = authorize(${JSON.stringify(customer)}, 'orders:read', ${JSON.stringify(order)})
    console.log(JSON.stringify({ atStart, roles, allowed, afterwards: cedarLoaded() }))`
  const answer = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }))
  assert.deepEqual(answer, { atStart: false, roles: ['admin', 'staff', 'customer'], allowed: true, afterwards: true })
})

test('what a validation found holds for those very files: an edited policy is validated again', () => {
  const careful =
    '@id("careful")\npermit (principal, action == Mosaic::Action::"orders:read", resource)\nwhen { resource.owner == principal };\n'
  const { authorize } = loadPolicies(policyDir({ 'extra.cedar': careful }).dir)
  assert.equal(authorize(otherCustomer, 'orders:read', { ...order, ownerId: otherCustomer.userId }), true)
  const edited = policyDir({ 'extra.cedar': careful.replace('resource.owner', 'resource.total') })
  assert.throws(() => loadPolicies(edited.dir), /attribute `total`/)
})
