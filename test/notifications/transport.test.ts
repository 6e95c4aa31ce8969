// The SMTP transport's configuration against a real SMTP server in this process: STARTTLS with
// the server's self-signed certificate (refused unless SMTP_TLS_REJECT_UNAUTHORIZED=false),
// SMTP_REQUIRE_TLS, credentials; and which failures are worth retrying.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startSmtp, SMTP_USER, SMTP_PASS, type TestSmtp } from './smtp.ts'
import { smtpTransport, isPermanent, type Outgoing } from '../../src/services/notifications/transports.ts'
import { Config } from '../../src/services/notifications/config.ts'
import { loadConfig } from '../../src/kit/config.ts'

let tls: TestSmtp
let plain: TestSmtp

before(async () => {
  tls = await startSmtp({ disabledCommands: [] }) // offers STARTTLS with smtp-server's own self-signed certificate
  plain = await startSmtp()
})
after(async () => {
  await tls?.stop()
  await plain?.stop()
})

const config = (server: TestSmtp, env: Record<string, string> = {}) =>
  loadConfig(Config, {
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(server.port),
    SMTP_USERNAME: SMTP_USER,
    SMTP_PASSWORD: SMTP_PASS,
    SMTP_TIMEOUT_MS: '5000',
    ...env,
  })
let n = 0
const mail = (): Outgoing => ({
  notificationId: String(++n),
  tenantId: 'default',
  to: `t${n}@example.test`,
  subject: `Test ${n}`,
  text: 'text',
  html: '<p>html</p>',
  messageId: `<t${n}@mosaic.test>`,
})

async function sendWith(server: TestSmtp, env: Record<string, string> = {}): Promise<{ error?: unknown; to: string }> {
  const transport = smtpTransport(config(server, env))
  const outgoing = mail()
  try {
    await transport.send(outgoing)
    return { to: outgoing.to }
  } catch (error) {
    return { error, to: outgoing.to }
  } finally {
    transport.close()
  }
}

test('STARTTLS to a server whose certificate is not trusted fails by default, and is not a permanent failure', async () => {
  const { error, to } = await sendWith(tls)
  assert.ok(error, 'sent although the certificate is self-signed')
  assert.match((error as Error).message, /certificate/i)
  assert.equal(isPermanent(error), false)
  assert.equal(tls.byRecipient(to).length, 0)
})

test('SMTP_TLS_REJECT_UNAUTHORIZED=false accepts it: the mail goes over TLS', async () => {
  const { error, to } = await sendWith(tls, { SMTP_TLS_REJECT_UNAUTHORIZED: 'false', SMTP_REQUIRE_TLS: 'true' })
  assert.equal(error, undefined)
  const [received] = tls.byRecipient(to)
  assert.ok(received)
  assert.equal(received.secure, true)
  assert.equal(received.messageId, `<t${n}@mosaic.test>`)
})

test('SMTP_REQUIRE_TLS refuses a server that does not offer STARTTLS; without it the mail goes in the clear', async () => {
  const refused = await sendWith(plain, { SMTP_REQUIRE_TLS: 'true' })
  assert.ok(refused.error)
  assert.equal(plain.byRecipient(refused.to).length, 0)
  const clear = await sendWith(plain)
  assert.equal(clear.error, undefined)
  assert.equal(plain.byRecipient(clear.to)[0]!.secure, false)
})

test('wrong credentials are retried (configuration, not the mail), a 5xx on the recipient is permanent, 4xx and connection errors are not', async () => {
  const { error } = await sendWith(plain, { SMTP_PASSWORD: 'wrong' })
  assert.equal((error as { code?: string }).code, 'EAUTH')
  assert.equal(isPermanent(error), false)

  plain.refuse.set('gone@example.test', 550)
  const transport = smtpTransport(config(plain))
  try {
    const rejected = await transport.send({ ...mail(), to: 'gone@example.test' }).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.equal((rejected as { responseCode?: number }).responseCode, 550)
    assert.equal(isPermanent(rejected), true)
  } finally {
    transport.close()
  }
  assert.equal(isPermanent(Object.assign(new Error('busy'), { responseCode: 421 })), false)
  assert.equal(isPermanent(Object.assign(new Error('refused'), { code: 'ECONNECTION' })), false)
  assert.equal(isPermanent(new Error('anything else')), false)
})

test('configuration: a From without an address, or a username without a password, is refused at start', () => {
  assert.throws(() => loadConfig(Config, { SMTP_FROM: 'Mosaic' }), /SMTP_FROM/)
  assert.throws(
    () => smtpTransport(loadConfig(Config, { SMTP_HOST: 'mail.example.test', SMTP_USERNAME: 'u' })),
    /SMTP_PASSWORD is required/,
  )
  const defaults = loadConfig(Config, { SMTP_HOST: 'mail.example.test', SMTP_SECURE: 'true' })
  assert.equal(smtpTransport(defaults).describe, 'smtp://mail.example.test:465')
  assert.equal(
    smtpTransport(loadConfig(Config, { SMTP_HOST: 'mail.example.test' })).describe,
    'smtp://mail.example.test:587',
  )
})
