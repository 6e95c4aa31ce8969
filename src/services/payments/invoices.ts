// Invoices: one per confirmed order (from the orders service's order.confirmed event) and one per
// closed subscription period, numbered per tenant without gaps, and shown as JSON or printable HTML.
import { randomUUID } from 'node:crypto'
import {
  html,
  toMinor,
  toAmount,
  toDecimal,
  type Sql,
  type ServiceTx,
  type Static,
  type CloudEvent,
} from '../../kit/index.ts'
import type { Invoice, PaymentsContract } from './contract.ts'
import type { ordersContract } from '../orders/contract.ts'

export type InvoiceOut = Static<typeof Invoice>

interface StoredLine {
  description: string
  quantity: number
  unitPriceMinor: string
  amountMinor: string
}
export interface NewLine {
  description: string
  quantity: number
  unitPriceMinor: bigint
}

export interface InvoiceRow {
  id: string
  number: string
  tenant_id: string
  user_id: string
  order_id: string | null
  subscription_id: string | null
  period_start: Date | null
  period_end: Date | null
  currency: string
  total_minor: bigint
  lines: StoredLine[]
  issued_at: Date
}

export function toInvoice(row: InvoiceRow): InvoiceOut {
  const money = (minor: string | bigint) => toAmount(BigInt(minor), row.currency)
  return {
    id: row.id,
    number: row.number,
    tenantId: row.tenant_id,
    userId: row.user_id,
    orderId: row.order_id,
    subscriptionId: row.subscription_id,
    periodStart: row.period_start?.toISOString() ?? null,
    periodEnd: row.period_end?.toISOString() ?? null,
    lines: row.lines.map((l) => ({
      description: l.description,
      quantity: l.quantity,
      unitPrice: money(l.unitPriceMinor),
      amount: money(l.amountMinor),
    })),
    total: money(row.total_minor),
    currency: row.currency,
    issuedAt: row.issued_at.toISOString(),
  }
}

export interface NewInvoice {
  readonly tenantId: string
  readonly userId: string
  readonly currency: string
  readonly lines: readonly NewLine[]
  readonly orderId?: string
  readonly subscriptionId?: string
  readonly requestKey?: string
  readonly periodStart?: Date
  readonly periodEnd?: Date
}

/** Issues an invoice in `tx`, with the tenant's next number and the invoice.issued event. */
export async function issueInvoice(tx: ServiceTx<PaymentsContract>, invoice: NewInvoice): Promise<InvoiceOut> {
  const lines = invoice.lines.map((l) => ({
    description: l.description,
    quantity: l.quantity,
    unitPriceMinor: String(l.unitPriceMinor),
    amountMinor: String(l.unitPriceMinor * BigInt(l.quantity)),
  }))
  const total = lines.reduce((sum, l) => sum + BigInt(l.amountMinor), 0n)
  // The counter row stays locked until commit: concurrent invoices of a tenant take numbers in turn,
  // and a rollback gives its number back.
  const [{ last_number: n }] = (await tx.query<{ last_number: bigint }>(
    `insert into invoice_counters (tenant_id, last_number) values ($1, 1)
    on conflict (tenant_id) do update set last_number = invoice_counters.last_number + 1 returning last_number`,
    [invoice.tenantId],
  )) as [{ last_number: bigint }]
  const [row] = await tx.query<InvoiceRow>(
    `insert into invoices (id, number, tenant_id, user_id, order_id, subscription_id, request_key, period_start, period_end, currency, total_minor, lines)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text::jsonb) returning *`,
    [
      `inv_${randomUUID()}`,
      `INV-${invoice.tenantId}-${String(n).padStart(6, '0')}`,
      invoice.tenantId,
      invoice.userId,
      invoice.orderId ?? null,
      invoice.subscriptionId ?? null,
      invoice.requestKey ?? null,
      invoice.periodStart ?? null,
      invoice.periodEnd ?? null,
      invoice.currency,
      total,
      JSON.stringify(lines),
    ],
  )
  const out = toInvoice(row!)
  await tx.publish(
    'invoice.issued',
    {
      invoiceId: out.id,
      number: out.number,
      tenantId: out.tenantId,
      userId: out.userId,
      orderId: out.orderId,
      subscriptionId: out.subscriptionId,
      total: out.total,
      currency: out.currency,
    },
    { subject: out.id },
  )
  return out
}

type OrderConfirmed = Static<(typeof ordersContract)['events']['order.confirmed']>

/** order.confirmed → the order's invoice. The inbox drops redeliveries; the order id is checked as well. */
export async function invoiceOrder(event: CloudEvent<OrderConfirmed>, tx: ServiceTx<PaymentsContract>): Promise<void> {
  const order = event.data
  if ((await tx.query('select 1 from invoices where order_id = $1', [order.orderId])).length > 0) return
  const lines = order.items.map((item) => ({
    description: `${item.name} (${item.productId})`,
    quantity: item.quantity,
    unitPriceMinor: toMinor(item.unitPrice, item.currency, '/unitPrice'),
  }))
  await issueInvoice(tx, {
    tenantId: order.tenantId,
    userId: order.userId,
    currency: order.currency,
    lines,
    orderId: order.orderId,
  })
}

export async function findInvoice(db: Sql, id: string): Promise<InvoiceRow | undefined> {
  const [row] = await db.query<InvoiceRow>('select * from invoices where id = $1', [id])
  return row
}

/** A printable page: every value escaped (the kit's html template), no script, inline styles only. */
export function invoiceHtml(row: InvoiceRow): string {
  const money = (minor: string | bigint) => html`${toDecimal(BigInt(minor), row.currency)} ${row.currency}`
  const period =
    row.period_start && row.period_end
      ? html`<p>Period: ${row.period_start.toISOString()} – ${row.period_end.toISOString()}</p>`
      : ''
  const lines = row.lines.map(
    (
      l,
    ) => html`<tr><td>${l.description}</td><td class="n">${l.quantity}</td><td class="n">${money(l.unitPriceMinor)}</td><td class="n">${money(l.amountMinor)}</td></tr>
`,
  )
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Invoice ${row.number}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ccc;padding:.4em;text-align:left}.n{text-align:right}</style>
</head><body>
<h1>Invoice ${row.number}</h1>
<p>Issued: ${row.issued_at.toISOString()}</p>
<p>Customer: ${row.user_id} (tenant ${row.tenant_id})</p>
${row.order_id ? html`<p>Order: ${row.order_id}</p>` : ''}${period}
<table><thead><tr><th>Item</th><th class="n">Quantity</th><th class="n">Unit price</th><th class="n">Amount</th></tr></thead>
<tbody>
${lines}</tbody>
<tfoot><tr><th colspan="3">Total</th><th class="n">${money(row.total_minor)}</th></tr></tfoot></table>
</body></html>
`.value
}
