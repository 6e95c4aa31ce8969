// Who may do what is written down once, as Cedar policies in policies/ (*.cedar files, validated
// against mosaic.cedarschema, with the role hierarchy in roles.json). Services ask
// authorize(principal, action, resource) and never compare role names themselves, so every rule can
// be read and reviewed in one place.
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type * as Cedar from '@cedar-policy/cedar-wasm/nodejs'
import { LRUCache } from 'lru-cache'
import { readDerived, writeDerived } from './internal/derived-files.ts'

const require = createRequire(import.meta.url)
let cedarModule: typeof Cedar | undefined
/**
 * Cedar is a 4 MB WebAssembly module that V8 compiles function by function as they are first used:
 * loading and validating the policies costs some 0.7 s of CPU and 50 MB. It is loaded when first
 * needed (the first authorize(), or a validation), not by every start; synchronously, since
 * authorize() is (the CommonJS build allows it).
 */
function cedar(): typeof Cedar {
  return (cedarModule ??= require('@cedar-policy/cedar-wasm/nodejs') as typeof Cedar)
}
const cedarVersion = (
  JSON.parse(
    readFileSync(join(dirname(require.resolve('@cedar-policy/cedar-wasm/nodejs')), 'package.json'), 'utf8'),
  ) as {
    version: string
  }
).version

export interface Principal {
  readonly userId: string
  readonly tenantId: string
  readonly roles: readonly string[]
}

export interface Resource {
  /** Cedar entity type without the namespace: 'User', 'Product', 'Order', 'Tenant'. */
  readonly type: string
  readonly id: string
  /** Becomes the attribute `tenant: Tenant::"<tenantId>"`. */
  readonly tenantId?: string
  /** Becomes the attribute `owner: User::"<ownerId>"`. */
  readonly ownerId?: string
}

export interface Authorizer {
  /** True when the policies permit `principal` to do `action` on `resource`; anonymous (undefined) principals are never permitted. */
  authorize(
    principal: Principal | undefined,
    action: string,
    resource: Resource,
    context?: Record<string, unknown>,
  ): boolean
  /** The roles and every role they include (roles.json): what the gateway's route table is checked against. */
  effectiveRoles(roles: readonly string[]): string[]
}

const NAMESPACE = 'Mosaic'
const SCHEMA_FILE = 'mosaic.cedarschema'
const ROLES_FILE = 'roles.json'
const DEFAULT_DIR = new URL('../../policies/', import.meta.url)

/** The policy folder's files as read, before Cedar parses them. */
interface Sources {
  readonly schemaPath: string
  readonly schema: string
  readonly rolesPath: string
  readonly roles: string
  readonly policyFiles: readonly { readonly path: string; readonly text: string }[]
}

/** What a validation derives from the sources, and all a start needs from them afterwards. */
interface Prepared {
  readonly policies: Record<string, string>
  /** Action name → the resource types it applies to (see actionsOf). */
  readonly actions: readonly (readonly [string, string[]])[]
}

interface PolicySource {
  readonly path: string
  readonly text: string
  readonly offset: number
}

interface Loaded {
  readonly schemaPath: string
  readonly schema: string
  readonly schemaParsed: boolean
  readonly roles: ReadonlyMap<string, readonly string[]>
  /** Policy text by its @id, which Cedar then uses as the policy's id in its answers. */
  readonly policies: Record<string, string>
  readonly sources: ReadonlyMap<string, PolicySource>
  /** Problems that make the policies unusable: parse errors, bad roles, missing or repeated @id. */
  readonly errors: readonly string[]
}

const authorizers = new Map<string, Authorizer>()

/** The policies of `dir`, read, validated and parsed once per process; throws naming the file if any is invalid. */
export function loadPolicies(dir: URL = DEFAULT_DIR): Authorizer {
  const folder = asFolder(dir)
  let authorizer = authorizers.get(folder.href)
  if (!authorizer) {
    authorizer = createAuthorizer(folder)
    authorizers.set(folder.href, authorizer)
  }
  return authorizer
}

/** Everything wrong with the policies of `dir` (parse errors, then strict validation errors and warnings); [] when clean. */
export function validatePolicies(dir: URL = DEFAULT_DIR): string[] {
  const loaded = load(readSources(asFolder(dir)))
  const { errors, warnings } = validation(loaded)
  return [...loaded.errors, ...errors, ...warnings]
}

function createAuthorizer(dir: URL): Authorizer {
  const sources = readSources(dir)
  // Validating the policies in full takes Cedar most of a second. The outcome depends on the files'
  // contents and Cedar's version alone, so a clean result is kept under their hash: a later start
  // with the same files reads it and does not load Cedar until it authorizes something.
  const name = `cedar-policies-${digest(sources)}.json`
  let prepared = readDerived<Prepared>(name)
  if (!Array.isArray(prepared?.actions) || typeof prepared.policies !== 'object') {
    const loaded = load(sources)
    // Refusing to start beats an invalid policy that would error on every request it touches.
    const errors = [...loaded.errors, ...validation(loaded).errors]
    if (errors.length > 0) throw new Error(`invalid authorization policies:\n${errors.join('\n')}`)
    prepared = { policies: loaded.policies, actions: [...actionsOf(loaded.schema)] }
    writeDerived(name, prepared)
  }
  const { policies } = prepared
  const actions = new Map(prepared.actions)
  const hierarchy = readRoles(sources.rolesPath, sources.roles, []) // its errors were found by the validation
  const roleEntities = [...hierarchy].map(([role, parents]) => entity('Role', role, {}, parents))

  // Parsed once into the wasm module's own cache, on first use; each decision then only sends the entities.
  const id = `mosaic:${dir.href}`
  let parsed = false
  const parse = (): void => {
    for (const answer of [
      cedar().preparseSchema(id, sources.schema),
      cedar().preparsePolicySet(id, { staticPolicies: policies }),
    ]) {
      if (answer.type === 'failure') throw new Error(`cannot prepare ${fileURLToPath(dir)}: ${messages(answer.errors)}`)
    }
    parsed = true
  }

  // A decision depends on its inputs alone (the policies do not change while the process runs), and
  // Cedar takes about a millisecond to reach one (every order placed asks): recent ones are
  // remembered. Only decisions: a request Cedar refuses throws every time.
  const decisions = new LRUCache<string, boolean>({ max: 10_000 })

  // No `this`: the platform hands services this function on its own.
  const authorize = (
    principal: Principal | undefined,
    action: string,
    resource: Resource,
    context: Record<string, unknown> = {},
  ): boolean => {
    // Checked before the anonymous shortcut so that a misspelt action fails for every caller alike.
    const resourceTypes = actions.get(action)
    if (!resourceTypes) throw new Error(`unknown action "${action}": not declared in ${SCHEMA_FILE}`)
    if (!resourceTypes.includes(resource.type)) {
      throw new Error(
        `action "${action}" does not apply to ${resource.type} resources, only to ${resourceTypes.join(', ')}`,
      )
    }
    if (!principal) return false
    // What the decision is made from, and nothing else (an identity carries more than its principal).
    const { userId, tenantId, roles } = principal
    const key = JSON.stringify([
      userId,
      tenantId,
      roles,
      action,
      resource.type,
      resource.id,
      resource.tenantId ?? null,
      resource.ownerId ?? null,
      context,
    ])
    const known = decisions.get(key)
    if (known !== undefined) return known

    if (!parsed) parse()
    const answer = cedar().statefulIsAuthorized({
      principal: uid('User', principal.userId),
      action: { type: `${NAMESPACE}::Action`, id: action },
      resource: uid(resource.type, resource.id),
      context: context as Cedar.Context,
      entities: [...roleEntities, ...requestEntities(principal, resource, hierarchy)],
      preparsedSchemaName: id,
      preparsedPolicySetId: id,
      validateRequest: true,
    })
    const request = `${action} on ${resource.type}::"${resource.id}"`
    if (answer.type === 'failure') throw new Error(`cannot authorize ${request}: ${messages(answer.errors)}`)
    // Cedar skips a policy whose evaluation fails, and a skipped forbid lets the request through.
    const failed = answer.response.diagnostics.errors
    if (failed.length > 0) {
      throw new Error(
        `cannot authorize ${request}: ${failed.map((f) => `policy ${f.policyId}: ${f.error.message}`).join('; ')}`,
      )
    }
    const allowed = answer.response.decision === 'allow'
    decisions.set(key, allowed)
    return allowed
  }
  const effectiveRoles = (roles: readonly string[]): string[] => {
    const all = new Set<string>()
    const visit = (role: string): void => {
      if (all.has(role) || !hierarchy.has(role)) return
      all.add(role)
      for (const included of hierarchy.get(role)!) visit(included)
    }
    roles.forEach(visit)
    return [...all]
  }
  return { authorize, effectiveRoles }
}

/** The principal (parents: its known roles), the resource and the tenants they name. */
function requestEntities(
  principal: Principal,
  resource: Resource,
  roles: ReadonlyMap<string, readonly string[]>,
): Cedar.EntityJson[] {
  const entities = new Map<string, Cedar.EntityJson>()
  const add = (e: Cedar.EntityJson & { uid: Cedar.TypeAndId }) => {
    const key = `${e.uid.type}::${e.uid.id}`
    if (!entities.has(key)) entities.set(key, e)
  }
  // Roles a token carries but roles.json does not know grant nothing.
  add(
    entity(
      'User',
      principal.userId,
      { tenant: ref('Tenant', principal.tenantId) },
      principal.roles.filter((r) => roles.has(r)),
    ),
  )
  const attrs: Record<string, Cedar.CedarValueJson> = {}
  if (resource.tenantId !== undefined) attrs.tenant = ref('Tenant', resource.tenantId)
  if (resource.ownerId !== undefined) attrs.owner = ref('User', resource.ownerId)
  add(entity(resource.type, resource.id, attrs))
  add(entity('Tenant', principal.tenantId))
  if (resource.tenantId !== undefined) add(entity('Tenant', resource.tenantId))
  return [...entities.values()]
}

function entity(
  type: string,
  id: string,
  attrs: Record<string, Cedar.CedarValueJson> = {},
  roles: readonly string[] = [],
) {
  return { uid: uid(type, id), attrs, parents: roles.map((role) => uid('Role', role)) }
}

function uid(type: string, id: string): Cedar.TypeAndId {
  return { type: `${NAMESPACE}::${type}`, id }
}

function ref(type: string, id: string): Cedar.CedarValueJson {
  return { __entity: uid(type, id) }
}

/** Action name → the resource types (without namespace) it applies to, from the schema. */
function actionsOf(schema: string): Map<string, string[]> {
  const answer = cedar().schemaToJson(schema)
  if (answer.type === 'failure') throw new Error(`${SCHEMA_FILE}: ${messages(answer.errors)}`)
  const actions = answer.json[NAMESPACE]?.actions ?? {}
  return new Map(
    Object.entries(actions).map(([name, action]) => [
      name,
      (action.appliesTo?.resourceTypes ?? []).map((type) => type.replace(`${NAMESPACE}::`, '')),
    ]),
  )
}

/** The files of the policy folder `dir`, read (Cedar parses nothing yet). */
function readSources(dir: URL): Sources {
  const read = (name: string) => {
    const path = fileURLToPath(new URL(name, dir))
    return { path, text: readFileSync(path, 'utf8') }
  }
  const schema = read(SCHEMA_FILE)
  const roles = read(ROLES_FILE)
  const policyFiles = readdirSync(dir)
    .filter((n) => n.endsWith('.cedar'))
    .sort()
    .map(read)
  return { schemaPath: schema.path, schema: schema.text, rolesPath: roles.path, roles: roles.text, policyFiles }
}

/** A hash of everything a validation depends on: the files' names and contents, and Cedar's version. */
function digest(sources: Sources): string {
  const hash = createHash('sha256').update(`${cedarVersion}\0${sources.schema}\0${sources.roles}`)
  for (const { path, text } of sources.policyFiles) hash.update(`\0${basename(path)}\0${text}`)
  return hash.digest('hex').slice(0, 32)
}

function load(sources: Sources): Loaded {
  const errors: string[] = []
  const { schemaPath, schema } = sources
  const parsed = cedar().checkParseSchema(schema)
  if (parsed.type === 'failure') errors.push(...parsed.errors.map((e) => describe(e, schemaPath, schema)))
  const roles = readRoles(sources.rolesPath, sources.roles, errors)

  const policies: Record<string, string> = {}
  const policySources = new Map<string, PolicySource>()
  for (const { path, text } of sources.policyFiles) readPolicyFile(path, text, roles, policies, policySources, errors)
  return {
    schemaPath,
    schema,
    schemaParsed: parsed.type === 'success',
    roles,
    policies,
    sources: policySources,
    errors,
  }
}

function readPolicyFile(
  path: string,
  text: string,
  roles: ReadonlyMap<string, unknown>,
  policies: Record<string, string>,
  sources: Map<string, PolicySource>,
  errors: string[],
): void {
  const parts = cedar().policySetTextToParts(text)
  if (parts.type === 'failure') {
    errors.push(...parts.errors.map((e) => describe(e, path, text)))
    return
  }
  if (parts.policy_templates.length > 0)
    errors.push(`${path}: templates (policies with ?principal or ?resource) are not supported`)
  let cursor = 0
  for (const policy of parts.policies) {
    // The parts are slices of the file: finding each one again gives its line for error messages.
    const index = text.indexOf(policy, cursor)
    cursor = index + policy.length
    const source = { path, text, offset: Buffer.byteLength(text.slice(0, index)) }
    const where = `${path}:${position(text, source.offset)}`
    const json = cedar().policyToJson(policy)
    const id = json.type === 'success' ? json.json.annotations?.id : undefined
    if (id === undefined) errors.push(`${where}: policy has no @id("...") annotation`)
    else if (sources.has(id)) errors.push(`${where}: @id("${id}") is already used in ${sources.get(id)!.path}`)
    else {
      policies[id] = policy
      sources.set(id, source)
    }
    // Role names are entity ids, which the schema does not list: a misspelt one would quietly match nobody.
    for (const role of json.type === 'success' ? rolesIn(json.json) : []) {
      if (!roles.has(role)) errors.push(`${where}: role "${role}" is not in ${ROLES_FILE}`)
    }
  }
}

/** The ids of every Role entity a policy (as Cedar's JSON) mentions, in its scope or its conditions. */
function rolesIn(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const item of value) rolesIn(item, found)
  } else if (typeof value === 'object' && value !== null) {
    const { type, id } = value as { type?: unknown; id?: unknown }
    if (type === `${NAMESPACE}::Role` && typeof id === 'string') found.push(id)
    else for (const item of Object.values(value)) rolesIn(item, found)
  }
  return found
}

function readRoles(path: string, text: string, errors: string[]): Map<string, readonly string[]> {
  const roles = new Map<string, readonly string[]>()
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    errors.push(`${path}: ${(error as Error).message}`)
    return roles
  }
  const isList = (v: unknown) => Array.isArray(v) && v.every((r) => typeof r === 'string')
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !Object.values(raw).every(isList)) {
    errors.push(`${path}: must map each role to the list of roles it includes, as in { "admin": ["staff"] }`)
    return roles
  }
  for (const [role, included] of Object.entries(raw as Record<string, string[]>)) roles.set(role, included)
  for (const [role, included] of roles) {
    for (const other of included)
      if (!roles.has(other)) errors.push(`${path}: role "${role}" includes "${other}", which is not a role`)
  }
  // A cycle would make every role on it equal to the others: one slip and customers are admins.
  for (const role of roles.keys())
    if (reaches(roles, role, role)) errors.push(`${path}: role "${role}" includes itself`)
  return roles
}

function reaches(
  roles: ReadonlyMap<string, readonly string[]>,
  from: string,
  target: string,
  seen = new Set<string>(),
): boolean {
  for (const next of roles.get(from) ?? []) {
    if (next === target) return true
    if (!seen.has(next)) {
      seen.add(next)
      if (reaches(roles, next, target, seen)) return true
    }
  }
  return false
}

function validation(loaded: Loaded): { errors: string[]; warnings: string[] } {
  if (!loaded.schemaParsed) return { errors: [], warnings: [] }
  const answer = cedar().validate({
    schema: loaded.schema,
    policies: { staticPolicies: loaded.policies },
    validationSettings: { mode: 'strict' },
  })
  const inSchema = (e: Cedar.DetailedError) => describe(e, loaded.schemaPath, loaded.schema)
  if (answer.type === 'failure') return { errors: answer.errors.map(inSchema), warnings: answer.warnings.map(inSchema) }
  const inPolicy = ({ policyId, error }: Cedar.ValidationError) => {
    const source = loaded.sources.get(policyId)!
    return describe(error, source.path, source.text, source.offset)
  }
  return {
    errors: answer.validationErrors.map(inPolicy),
    warnings: [...answer.validationWarnings.map(inPolicy), ...answer.otherWarnings.map(inSchema)],
  }
}

/** `file:line:column: message (hint)`; Cedar's locations are byte offsets, `offset` that of the policy in its file. */
function describe(error: Cedar.DetailedError, path: string, text: string, offset = 0): string {
  const location = error.sourceLocations?.[0]
  const where = location ? `${path}:${position(text, offset + location.start)}` : path
  const hints = [location?.label, error.help].filter(Boolean)
  return `${where}: ${error.message}${hints.length > 0 ? ` (${hints.join('; ')})` : ''}`
}

function position(text: string, byteOffset: number): string {
  const lines = Buffer.from(text).subarray(0, byteOffset).toString().split('\n')
  return `${lines.length}:${lines.at(-1)!.length + 1}`
}

function messages(errors: readonly Cedar.DetailedError[]): string {
  return errors.map((e) => e.message).join('; ')
}

// new URL('roles.json', 'file:///x/policies') would resolve beside the folder, not in it.
function asFolder(dir: URL): URL {
  return dir.href.endsWith('/') ? dir : new URL(`${dir.href}/`)
}
