// Subscriptions and usage: a plan's fee per period plus the units used beyond what it includes.
// Closing a period invoices fee + max(0, usage − included) × unit price in exact minor units,
// marks the usage billed and starts the next period, all in one transaction.
import { randomUUID } from 'node:crypto'
import { MosaicError, codes, toAmount, type Sql, type ServiceTx, type Static } from '../../kit/index.ts'
import type { Plan, Subscription, PaymentsContract } from './contract.ts'
import { issueInvoice, toInvoice, type InvoiceOut, type InvoiceRow } from './invoices.ts'

interface PlanRow {
  id: string
  name: string
  currency: string
  fee_minor: bigint
  included_units: bigint
  unit_price_minor: bigint
}
export interface SubscriptionRow {
  id: string
  tenant_id: string
  user_id: string
  plan_id: string
  status: 'active'
  period_start: Date
  created_at: Date
}

const toPlan = (p: PlanRow): Static<typeof Plan> => ({
  id: p.id,
  name: p.name,
  fee: toAmount(p.fee_minor, p.currency),
  currency: p.currency,
  includedUnits: Number(p.included_units),
  unitPrice: toAmount(p.unit_price_minor, p.currency),
  period: 'month',
})

export async function listPlans(db: Sql): Promise<Static<typeof Plan>[]> {
  return (await db.query<PlanRow>('select * from plans order by fee_minor, id')).map(toPlan)
}

async function usageSince(db: Sql, row: SubscriptionRow): Promise<bigint> {
  const [{ used }] = (await db.query<{ used: bigint }>(
    `select coalesce(sum(quantity), 0)::bigint as used from usage_records
    where subscription_id = $1 and invoice_id is null`,
    [row.id],
  )) as [{ used: bigint }]
  return BigInt(used)
}

export async function toSubscription(db: Sql, row: SubscriptionRow): Promise<Static<typeof Subscription>> {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    userId: row.user_id,
    planId: row.plan_id,
    status: row.status,
    periodStart: row.period_start.toISOString(),
    usage: Number(await usageSince(db, row)),
    createdAt: row.created_at.toISOString(),
  }
}

export async function findSubscription(db: Sql, id: string, lock = false): Promise<SubscriptionRow | undefined> {
  const [row] = await db.query<SubscriptionRow>(
    `select * from subscriptions where id = $1${lock ? ' for update' : ''}`,
    [id],
  )
  return row
}

export async function subscribe(tx: Sql, tenantId: string, userId: string, planId: string): Promise<SubscriptionRow> {
  if ((await tx.query('select 1 from plans where id = $1', [planId])).length === 0) {
    throw new MosaicError('not_found', {
      detail: `no plan ${planId}`,
      issues: [{ path: '/planId', code: 'plan', message: 'is not a plan' }],
    })
  }
  const [row] = await tx.query<SubscriptionRow>(
    'insert into subscriptions (id, tenant_id, user_id, plan_id) values ($1, $2, $3, $4) returning *',
    [`sub_${randomUUID()}`, tenantId, userId, planId],
  )
  return row!
}

export interface UsageIn {
  quantity: number
  timestamp?: string
  dedupeKey?: string
}

/** Records usage once per dedupe key; a repeat answers with the first record, another quantity with the key is refused. */
export async function recordUsage(tx: Sql, sub: SubscriptionRow, usage: UsageIn) {
  const at = usage.timestamp === undefined ? new Date() : new Date(usage.timestamp)
  // A closed period is invoiced already; the future is not usage yet (a few minutes of clock skew allowed).
  if (at < sub.period_start || at.getTime() > Date.now() + 300_000) {
    throw new MosaicError('validation_failed', {
      issues: [
        {
          path: '/timestamp',
          code: 'period',
          message: `must be within the open period, since ${sub.period_start.toISOString()}`,
        },
      ],
    })
  }
  const inserted = await tx.query<{ id: string; quantity: bigint; recorded_at: Date }>(
    `insert into usage_records (id, subscription_id, quantity, recorded_at, dedupe_key)
    values ($1, $2, $3, $4, $5) on conflict (subscription_id, dedupe_key) do nothing returning id, quantity, recorded_at`,
    [`use_${randomUUID()}`, sub.id, usage.quantity, at, usage.dedupeKey ?? null],
  )
  let [row] = inserted
  if (!row) {
    ;[row] = await tx.query<{ id: string; quantity: bigint; recorded_at: Date }>(
      'select id, quantity, recorded_at from usage_records where subscription_id = $1 and dedupe_key = $2',
      [sub.id, usage.dedupeKey],
    )
    if (
      Number(row!.quantity) !== usage.quantity ||
      (usage.timestamp !== undefined && row!.recorded_at.getTime() !== at.getTime())
    ) {
      throw new MosaicError(codes.idempotency_key_reused, { detail: 'this key already recorded other usage' })
    }
  }
  return {
    id: row!.id,
    subscriptionId: sub.id,
    quantity: Number(row!.quantity),
    timestamp: row!.recorded_at.toISOString(),
  }
}

/** Closes the subscription's open period now; the same request key again answers with the same invoice. */
export async function closePeriod(
  tx: ServiceTx<PaymentsContract>,
  sub: SubscriptionRow,
  requestKey: string,
): Promise<InvoiceOut> {
  const [earlier] = await tx.query<InvoiceRow>(
    'select * from invoices where subscription_id = $1 and request_key = $2',
    [sub.id, requestKey],
  )
  if (earlier) return toInvoice(earlier)
  const [plan] = (await tx.query<PlanRow>('select * from plans where id = $1', [sub.plan_id])) as [PlanRow]
  const end = new Date()
  const used = await usageSince(tx, sub)
  const over = used > plan.included_units ? used - plan.included_units : 0n
  const lines = [
    {
      description: `${plan.name} plan, monthly fee (includes ${plan.included_units} units; ${used} used)`,
      quantity: 1,
      unitPriceMinor: plan.fee_minor,
    },
  ]
  if (over > 0n)
    lines.push({
      description: `Usage beyond the plan (${over} units)`,
      quantity: Number(over),
      unitPriceMinor: plan.unit_price_minor,
    })
  const invoice = await issueInvoice(tx, {
    tenantId: sub.tenant_id,
    userId: sub.user_id,
    currency: plan.currency,
    lines,
    subscriptionId: sub.id,
    requestKey,
    periodStart: sub.period_start,
    periodEnd: end,
  })
  await tx.query('update usage_records set invoice_id = $2 where subscription_id = $1 and invoice_id is null', [
    sub.id,
    invoice.id,
  ])
  await tx.query('update subscriptions set period_start = $2 where id = $1', [sub.id, end])
  return invoice
}
