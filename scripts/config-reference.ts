// Renders docs/configuration.md from the configuration schemas themselves (the runtime's, the
// gateway's and each service's `config`), so the reference cannot drift from what is validated at
// start. `npm run docs:config` writes it; test/config-reference.test.ts fails when it is stale.
import { writeFileSync } from 'node:fs'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import Type, { type TObject } from 'typebox'
import { RuntimeConfig, ServiceAddress } from '../src/runtime/config.ts'
import { GatewayConfig } from '../src/gateway/gateway.ts'
import { DiscoveryConfig } from '../src/kit/discovery/registry.ts'
import { BusSettings } from '../src/kit/events/settings.ts'
import { CallsConfig } from '../src/kit/calls/policy.ts'
import { topology } from '../src/runtime/topology.ts'

export interface ConfigArea {
  readonly title: string
  /** Where the schemas are declared, shown under the title. */
  readonly source: string
  readonly schemas: readonly TObject[]
}

export const referencePath = new URL('../docs/configuration.md', import.meta.url)

/** Every process, the gateway, then each service of the topology (where it runs, then its own variables). */
export function configAreas(): ConfigArea[] {
  return [
    { title: 'Every process', source: 'src/runtime/config.ts', schemas: [RuntimeConfig] },
    { title: 'Gateway', source: 'src/gateway/gateway.ts', schemas: [GatewayConfig] },
    {
      title: 'Discovery',
      source: 'src/kit/discovery/registry.ts',
      // The bus's settings are listed once, under every process.
      schemas: [Type.Omit(DiscoveryConfig, Object.keys(BusSettings))],
    },
    {
      title: 'Calls between services (CALLS_<X> for every upstream, <NAME>_CALLS_<X> for one)',
      source: 'src/kit/calls/policy.ts',
      schemas: [CallsConfig],
    },
    ...topology.map(({ definition, port }) => {
      const name = definition.contract.name
      const own = definition.implementation.config
      return {
        title: `Service: ${name}`,
        source: `src/services/${name}/`,
        schemas: [ServiceAddress(name, port), ...(own ? [own] : [])],
      }
    }),
  ]
}

interface Variable {
  readonly default?: unknown
  readonly description?: string
  readonly type?: string
  readonly [key: string]: unknown
}

const code = (value: unknown): string => `\`${String(value)}\``
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ')

const root = fileURLToPath(new URL('..', import.meta.url))

/** Defaults that are paths in this checkout (the route table) are shown relative to it, the same on every machine. */
function defaultOf(variable: Variable): string {
  if (variable.default === undefined) return '—'
  if (variable.default === '') return '(empty)'
  if (typeof variable.default === 'string' && variable.default.startsWith(root))
    return code(relative(root, variable.default))
  return code(variable.default)
}

/** What the schema accepts, in words: the type and its bounds. */
function accepted(v: Variable): string {
  switch (v.type) {
    case 'boolean':
      return '`true` or `false`'
    case 'integer': {
      const { minimum: min, maximum: max } = v as { minimum?: number; maximum?: number }
      if (min !== undefined && max !== undefined) return `integer ${min}–${max}`
      if (min !== undefined) return `integer ≥ ${min}`
      return max === undefined ? 'integer' : `integer ≤ ${max}`
    }
    case 'string': {
      if (v.format === 'email') return 'email address'
      if (typeof v.pattern === 'string') return `text matching ${code(v.pattern)}`
      return typeof v.minLength === 'number' && v.minLength > 1 ? `text of ${v.minLength}+ characters` : 'text'
    }
    default:
      return String(v.type ?? 'any')
  }
}

export function renderConfigReference(areas: readonly ConfigArea[] = configAreas()): string {
  const seen = new Map<string, { area: string; default: unknown }>()
  const sections = areas.map((area) => {
    const rows: string[] = []
    const shared: string[] = []
    for (const schema of area.schemas) {
      for (const [name, variable] of Object.entries(schema.properties as Record<string, Variable>)) {
        const earlier = seen.get(name)
        if (earlier) {
          // One variable, one meaning: a second declaration must agree on the default.
          if (earlier.default !== variable.default)
            throw new Error(
              `${name} has default ${String(variable.default)} in ${area.title} but ${String(earlier.default)} in ${earlier.area}`,
            )
          shared.push(`${code(name)} (${earlier.area})`)
          continue
        }
        if (!variable.description)
          throw new Error(`${name} (${area.title}, ${area.source}) has no description: every variable is documented`)
        seen.set(name, { area: area.title, default: variable.default })
        rows.push(
          `| ${code(name)} | ${cell(defaultOf(variable))} | ${cell(accepted(variable))} | ${cell(variable.description)} |`,
        )
      }
    }
    return [
      `## ${area.title}`,
      '',
      `Declared in ${code(area.source)}.${shared.length ? ` Also reads ${shared.join(', ')}.` : ''}`,
      '',
      ...(rows.length
        ? ['| variable | default | accepted | description |', '| --- | --- | --- | --- |', ...rows]
        : ['No variables of its own.']),
      '',
    ].join('\n')
  })
  return [
    '# Configuration',
    '',
    '<!-- Generated by `npm run docs:config` from the configuration schemas. Edit the descriptions there, not here: a test fails when this file differs. -->',
    '',
    'All configuration is environment variables, validated when a process starts: a bad value stops it with one line',
    'naming the variable (`mosaic: invalid configuration: PORT must be <= 65535 (got "70000")`). An empty value counts',
    'as unset. Values of variables named `*SECRET*` or `*PASSWORD*` are never echoed.',
    '',
    'Each process reads the variables of the parts it runs: `mosaic start` those of every process, the gateway and every',
    'service it starts; `mosaic serve <service>` those of every process and of that service. Outside these tables,',
    "`mosaic users create-admin` reads the new administrator's password from `MOSAIC_ADMIN_PASSWORD` (or standard",
    'input), and the tests read `POSTGRES_ADMIN_URL` (see [Tests](testing.md)).',
    '',
    ...sections,
  ].join('\n')
}

if (import.meta.main) {
  writeFileSync(referencePath, renderConfigReference())
  console.log(`wrote ${referencePath.pathname}`)
}
