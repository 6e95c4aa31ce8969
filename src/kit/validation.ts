import type { TSchema, Static } from 'typebox'
import { Compile } from 'typebox/compile'
import { MosaicError, type FieldIssue } from './errors.ts'

export interface Validator<T> {
  /** Returns the value (defaults applied, and for `coerce` strings converted) or throws `code`. */
  parse(value: unknown): T
  check(value: unknown): value is T
}

export interface ValidatorOptions {
  /** Error code raised on failure (validation_failed for bodies, invalid_parameters for URLs). */
  readonly code?: string
  /** Convert strings to the schema's types first: for query strings, params and env vars. */
  readonly coerce?: boolean
}

const cache = new WeakMap<TSchema, ReturnType<typeof Compile>>()

function compiled(schema: TSchema): ReturnType<typeof Compile> {
  let v = cache.get(schema)
  if (!v) {
    v = Compile(schema)
    cache.set(schema, v)
  }
  return v
}

export function issuesOf(schema: TSchema, value: unknown): FieldIssue[] {
  const issues = new Map<string, FieldIssue>()
  const add = (path: string, code: string, message: string): void => {
    const key = `${path}|${code}`
    if (!issues.has(key)) issues.set(key, { path: path || '/', code, message })
  }
  for (const e of compiled(schema).Errors(value)) {
    const params = e.params as { additionalProperties?: string[]; requiredProperties?: string[] }
    if (e.keyword === 'boolean')
      continue // `additionalProperties: false` also reports each extra key as a `false` schema
    else if (params.additionalProperties)
      for (const k of params.additionalProperties) add(`${e.instancePath}/${k}`, 'unknown_property', 'is not allowed')
    else if (params.requiredProperties)
      for (const k of params.requiredProperties) add(`${e.instancePath}/${k}`, 'required', 'is required')
    else add(e.instancePath, e.keyword, e.message)
  }
  // A value that matches no branch of a union gets one issue saying what each branch wanted.
  const all = [...issues.values()]
  return all.flatMap((issue) => {
    const branches = all.filter((other) => other.path === issue.path && other !== issue)
    if (issue.code === 'anyOf')
      return [{ ...issue, message: branches.map((b) => b.message).join(', or ') || issue.message }]
    return all.some((other) => other.path === issue.path && other.code === 'anyOf') ? [] : [issue]
  })
}

/**
 * Converts the string values of a flat object (query, path params, environment) to the types
 * their schema declares. Written here because TypeBox's Convert truncates "1.5" to the integer 1;
 * a value that is not exactly a number is left as a string for validation to reject.
 */
function convertStrings(schema: TSchema, data: unknown): unknown {
  const properties = (schema as { properties?: Record<string, { type?: string }> }).properties
  if (!properties || typeof data !== 'object' || data === null) return data
  const out: Record<string, unknown> = { ...data }
  for (const [key, value] of Object.entries(out)) {
    const type = properties[key]?.type
    if (typeof value !== 'string') continue
    if ((type === 'integer' || type === 'number') && value.trim() !== '' && Number.isFinite(Number(value)))
      out[key] = Number(value)
    else if (type === 'boolean' && (value === 'true' || value === 'false')) out[key] = value === 'true'
  }
  return out
}

/** Whether a flat object of this schema may hold a string to convert: most path parameters are all strings. */
function declaresNonStrings(schema: TSchema): boolean {
  const properties = (schema as { properties?: Record<string, { type?: string }> }).properties
  return !properties || Object.values(properties).some((p) => p.type !== 'string')
}

/**
 * U+0000 anywhere in a string (a value, or a key of a free-form object): PostgreSQL cannot store
 * it in text or jsonb, so without this check it would reach the database and fail there as a 500
 * (PGlite and PostgreSQL alike). JSON Schema cannot say "no NUL" once for every string of every
 * contract, hence this walk, done only after the schema has passed (a bounded, valid value).
 */
function nulIssues(value: unknown, path = '', issues: FieldIssue[] = []): FieldIssue[] {
  // Most values hold no NUL: a walk that builds no paths says so first, and the paths are built only when one does.
  if (path === '' && !containsNul(value)) return issues
  if (typeof value === 'string') {
    if (value.includes('\u0000'))
      issues.push({ path: path || '/', code: 'nul_character', message: 'must not contain the NUL character (U+0000)' })
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => nulIssues(item, `${path}/${i}`, issues))
  } else if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value)) {
    for (const [key, item] of Object.entries(value)) {
      const at = `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`
      if (key.includes('\u0000'))
        issues.push({
          path: at,
          code: 'nul_character',
          message: 'the name must not contain the NUL character (U+0000)',
        })
      nulIssues(item, at, issues)
    }
  }
  return issues
}

function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000')
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return false
  if (Array.isArray(value)) return value.some(containsNul)
  for (const key in value)
    if (key.includes('\u0000') || containsNul((value as Record<string, unknown>)[key])) return true
  return false
}

/**
 * Whether applying defaults can change a value of this schema. TypeBox's Default walks the whole
 * value whatever the schema says, on every request; most inputs have no default anywhere. A
 * property named "default" or a reference only costs the walk, never a missed default.
 */
function mayHaveDefaults(schema: TSchema): boolean {
  try {
    const text = JSON.stringify(schema)
    return text.includes('"default":') || text.includes('"$ref"')
  } catch {
    return true // not plain data (a cycle): keep TypeBox's walk
  }
}

/**
 * Compiled on first use, not when made: a start makes one for every action, route and reply of every
 * service, and compiling them all was a tenth of its CPU (docs/benchmarks.md, 2026-11-29 night),
 * for schemas many of which a process never sees a value of.
 */
export function validator<S extends TSchema>(schema: S, options: ValidatorOptions = {}): Validator<Static<S>> {
  const { code = 'validation_failed' } = options
  let made: { v: ReturnType<typeof Compile>; defaults: boolean; coerce: boolean } | undefined
  const use = () => {
    if (made) return made
    const defaults = mayHaveDefaults(schema)
    // Converting copies the object, which is then also what defaults are written into (never the
    // caller's, process.env for one): skipped only where there is nothing to convert nor default.
    const coerce = (options.coerce ?? false) && (defaults || declaresNonStrings(schema))
    return (made = { v: compiled(schema), defaults, coerce })
  }
  return {
    check: (value): value is Static<S> => use().v.Check(value),
    parse(value) {
      const { v, defaults, coerce } = use()
      const converted = coerce ? convertStrings(schema, value) : value
      const candidate = defaults ? v.Default(converted) : converted
      if (!v.Check(candidate)) throw new MosaicError(code, { issues: issuesOf(schema, candidate) })
      const nul = nulIssues(candidate)
      if (nul.length > 0) throw new MosaicError(code, { issues: nul })
      return candidate as Static<S>
    },
  }
}
