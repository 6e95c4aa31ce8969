import { test } from 'node:test'
import assert from 'node:assert/strict'
import Type from 'typebox'
import { loadConfig, ConfigError, Env, envPrefix } from './config.ts'

const schema = Type.Object({
  CATALOG_SERVICE_PORT: Env.port(3001),
  CATALOG_SERVICE_URL: Type.Optional(Env.url()),
  SEED_DEMO: Env.flag(true),
  LOG_LEVEL: Type.Union([Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn')], { default: 'info' }),
})

test('defaults apply and strings are converted to their types', () => {
  assert.deepEqual(loadConfig(schema, {}), { CATALOG_SERVICE_PORT: 3001, SEED_DEMO: true, LOG_LEVEL: 'info' })
  const c = loadConfig(schema, {
    CATALOG_SERVICE_PORT: '4000',
    SEED_DEMO: 'false',
    CATALOG_SERVICE_URL: 'http://catalog:3001',
    UNRELATED: 'x',
  })
  assert.equal(c.CATALOG_SERVICE_PORT, 4000)
  assert.equal(c.SEED_DEMO, false)
  assert.equal(c.CATALOG_SERVICE_URL, 'http://catalog:3001')
  assert.equal('UNRELATED' in c, false)
})

test('a bad value names the variable and the value in one line', () => {
  for (const [env, variable] of [
    [{ CATALOG_SERVICE_PORT: 'abc' }, 'CATALOG_SERVICE_PORT'],
    [{ CATALOG_SERVICE_PORT: '70000' }, 'CATALOG_SERVICE_PORT'],
    [{ CATALOG_SERVICE_URL: 'catalog:3001' }, 'CATALOG_SERVICE_URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  ] as const) {
    assert.throws(
      () => loadConfig(schema, env),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError)
        assert.equal(e.variable, variable)
        assert.match(e.message, new RegExp(`^invalid configuration: ${variable} .+ \\(got ".*"\\)$`))
        assert.equal(e.message.includes('\n'), false)
        return true
      },
    )
  }
})

test('a missing required variable is reported by name', () => {
  assert.throws(
    () => loadConfig(Type.Object({ DATABASE_URL: Env.url() }), {}),
    (e: unknown) => e instanceof ConfigError && e.message === 'invalid configuration: DATABASE_URL is required',
  )
})

test('service prefixes', () => {
  assert.equal(envPrefix('catalog'), 'CATALOG')
  assert.equal(envPrefix('order-history'), 'ORDER_HISTORY')
})

test('a fractional value for an integer variable is refused, not truncated', () => {
  assert.throws(
    () => loadConfig(schema, { CATALOG_SERVICE_PORT: '80.5' }),
    /CATALOG_SERVICE_PORT must be integer \(got "80.5"\)/,
  )
})

test('a bad secret is named but never echoed', () => {
  const secrets = Type.Object({
    MOSAIC_INTERNAL_SECRET: Type.String({ minLength: 32 }),
    AUTH_ADMIN_PASSWORD: Type.String({ maxLength: 4 }),
  })
  for (const [variable, value] of [
    ['MOSAIC_INTERNAL_SECRET', 'hunter2-too-short'],
    ['AUTH_ADMIN_PASSWORD', 'hunter2-too-long'],
  ] as const) {
    const env = { MOSAIC_INTERNAL_SECRET: 'x'.repeat(32), AUTH_ADMIN_PASSWORD: 'ok', [variable]: value }
    assert.throws(
      () => loadConfig(secrets, env),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError)
        assert.equal(e.variable, variable)
        assert.match(e.message, new RegExp(`^invalid configuration: ${variable} `))
        assert.equal(e.message.includes('hunter2'), false, e.message)
        return true
      },
    )
  }
})

test("a URL's password is masked in the error line", () => {
  const schema = Type.Object({ DATABASE_URL: Type.String({ pattern: '^postgres(ql)?://' }) })
  assert.throws(
    () => loadConfig(schema, { DATABASE_URL: 'mysql://app:hunter2@db/x' }),
    (e: unknown) =>
      e instanceof ConfigError && e.message.includes('mysql://app:***@db/x') && !e.message.includes('hunter2'),
  )
})
