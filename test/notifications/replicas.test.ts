// Replicas share one PostgreSQL database: three senders (the node's own and two more, each with
// its own SMTP connection, over a pool of real connections) race for the same due notifications.
// Claims use FOR UPDATE SKIP LOCKED and a lease, so every mail goes out exactly once.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import postgres from 'postgres'
import pino from 'pino'
import identity from '../../src/services/identity/service.ts'
import notifications from '../../src/services/notifications/service.ts'
import { startSender, type Sender } from '../../src/services/notifications/sender.ts'
import { smtpTransport } from '../../src/services/notifications/transports.ts'
import { Config } from '../../src/services/notifications/config.ts'
import { loadConfig } from '../../src/kit/config.ts'
import type { ServiceDb } from '../../src/kit/index.ts'
import { startNode, type MosaicNode } from '../../src/runtime/node.ts'
import { startSmtp, SMTP_USER, SMTP_PASS, type TestSmtp } from './smtp.ts'
import { fastEnv } from './helpers.ts'
import { eventually } from '../helpers/wait.ts'
import { drained, mailsInFlight } from '../helpers/drained.ts'
import { register } from '../helpers/users.ts'

const adminUrl = process.env.POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const database = `mosaic_test_${process.pid}_${randomBytes(4).toString('hex')}`
const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })

let smtp: TestSmtp
let node: MosaicNode
const extra: Sender[] = []

before(async () => {
  smtp = await startSmtp({
    // A little time per mail keeps every sender busy at once.
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () =>
        setTimeout(() => {
          const raw = Buffer.concat(chunks).toString('utf8')
          smtp.received.push({
            secure: session.secure,
            raw,
            headers: new Map(),
            subject: '',
            messageId: /^message-id:\s*(\S+)/im.exec(raw)?.[1] ?? '',
            text: '',
            html: '',
            from: '',
            to: session.envelope.rcptTo.map((r) => r.address),
          })
          callback()
        }, 10),
      )
    },
  })
  await admin.unsafe(`create database ${database}`)
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  const env = {
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    DATABASE_URL: url.toString(),
    DATABASE_POOL_SIZE: '6',
    ...fastEnv,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtp.port),
    SMTP_USERNAME: SMTP_USER,
    SMTP_PASSWORD: SMTP_PASS,
  }
  node = await startNode({ role: 'gateway', services: [identity, notifications], port: 0, env })
  const service = node.services.get('notifications')!.context
  const config = loadConfig(Config, env)
  for (let i = 0; i < 2; i++) {
    extra.push(
      startSender({
        db: service.db as ServiceDb,
        log: pino({ level: 'silent' }),
        transport: smtpTransport(config),
        config,
      }),
    )
  }
})

after(async () => {
  for (const sender of extra) await sender.stop()
  await node?.stop()
  await smtp?.stop()
  await admin.unsafe(`drop database if exists ${database} with (force)`)
  await admin.end({ timeout: 5 })
})

test('three senders on one database send each of 60 due notifications exactly once', async () => {
  const db = node.engine.forSchema('notifications')
  const users = Array.from({ length: 60 }, (_, i) => ({ id: randomUUID(), email: `replica-${i}@example.test` }))
  await db.transaction(async (tx) => {
    await tx.query(
      `insert into recipients (user_id, tenant_id, email, name) select u, 'default', e, 'Replica' from unnest($1::text[], $2::text[]) as t(u, e)`,
      [users.map((u) => u.id), users.map((u) => u.email)],
    )
    await tx.query(
      `insert into notifications (id, tenant_id, user_id, kind, event_id, event_type, data, status, next_attempt_at, message_id)
      select id, 'default', u, 'welcome', gen_random_uuid()::text, 'user.registered', '{}', 'queued', now(), '<' || id || '@mosaic.test>'
      from (select gen_random_uuid() as id, u from unnest($1::text[]) as u) t`,
      [users.map((u) => u.id)],
    )
  })
  await eventually(
    'all sent',
    async () => {
      const [row] = await db.query<{ n: bigint }>(
        `select count(*) as n from notifications where user_id = any($1::text[]) and status = 'sent'`,
        [users.map((u) => u.id)],
      )
      return row!.n === 60n
    },
    20_000,
  )
  await drained(node, [mailsInFlight]) // no sender holds a row it could send a second copy of
  const ids = smtp.received.map((m) => m.messageId)
  assert.equal(ids.length, 60)
  assert.equal(new Set(ids).size, 60, 'no Message-ID twice')
  const attempts = await db.query<{ attempts: number }>(
    'select attempts from notifications where user_id = any($1::text[])',
    [users.map((u) => u.id)],
  )
  assert.ok(attempts.every((r) => r.attempts === 1))
})

test('on PostgreSQL too, a registration through the gateway is recorded once and sent once', async () => {
  const { id } = await register(node, { email: 'pg-welcome@example.test', name: 'Pg' })
  const db = node.engine.forSchema('notifications')
  await eventually(
    'welcome sent',
    async () =>
      (await db.query(`select 1 from notifications where user_id = $1 and status = 'sent'`, [id])).length === 1,
  )
  await drained(node, [mailsInFlight])
  assert.equal(smtp.byRecipient('pg-welcome@example.test').length, 1)
})
