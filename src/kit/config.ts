// Configuration is environment: each piece of the system declares the variables it reads as a
// TypeBox object, and they are validated once at start-up. A bad value stops the process with
// one line naming the variable.
import Type, { type TObject, type TProperties, type Static } from 'typebox'
import { validator } from './validation.ts'
import type { MosaicError } from './errors.ts'

export class ConfigError extends Error {
  readonly variable: string
  constructor(variable: string, problem: string, value: unknown) {
    super(
      `invalid configuration: ${variable} ${problem}${value === undefined ? '' : ` (got ${JSON.stringify(value)})`}`,
    )
    this.name = 'ConfigError'
    this.variable = variable
  }
}

/** Variables whose values never appear in an error (MOSAIC_INTERNAL_SECRET, AUTH_ADMIN_PASSWORD, ...). */
const SECRET_NAME = /SECRET|PASSWORD/

/** `postgres://app:hunter2@db/x` → `postgres://app:***@db/x`: a URL's password stays out of logs too. */
export const withoutPassword = (value: string | undefined): string | undefined =>
  value?.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@')

export function loadConfig<T extends TProperties>(
  schema: TObject<T>,
  env: NodeJS.ProcessEnv = process.env,
): Static<TObject<T>> {
  const raw: Record<string, string> = {}
  for (const key of Object.keys(schema.properties)) {
    const value = env[key]
    if (value !== undefined && value !== '') raw[key] = value
  }
  try {
    return validator(schema, { coerce: true }).parse(raw)
  } catch (error) {
    const [first] = (error as MosaicError).issues
    const variable = first!.path.slice(1)
    // The value is echoed to help, except a secret's: error lines end up in logs.
    throw new ConfigError(
      variable,
      first!.message,
      SECRET_NAME.test(variable) ? undefined : withoutPassword(env[variable]),
    )
  }
}

const described = (description?: string) => (description ? { description } : {})

/** Common shapes for environment variables; the description goes into docs/configuration.md. */
export const Env = {
  port: (defaultValue?: number, description?: string) =>
    Type.Integer({
      minimum: 0,
      maximum: 65535,
      ...(defaultValue === undefined ? {} : { default: defaultValue }),
      ...described(description),
    }),
  url: (description?: string) => Type.String({ pattern: '^[a-z][a-z0-9+.-]*://', ...described(description) }),
  flag: (defaultValue: boolean, description?: string) =>
    Type.Boolean({ default: defaultValue, ...described(description) }),
  positive: (defaultValue: number, description?: string) =>
    Type.Integer({ minimum: 1, default: defaultValue, ...described(description) }),
}

/** `"a, b,,c"` → `['a', 'b', 'c']`: the shape of every comma-separated variable. */
export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean)
}

/** `catalog` → `CATALOG`, `order-history` → `ORDER_HISTORY`: the prefix of a service's variables. */
export function envPrefix(service: string): string {
  return service.toUpperCase().replace(/[^A-Z0-9]/g, '_')
}
