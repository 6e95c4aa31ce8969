// Payment rows and their public shape.
import { toAmount, type Sql, type Static } from '../../kit/index.ts'
import type { Payment } from './contract.ts'

export type PaymentOut = Static<typeof Payment>
export type PaymentStatus = PaymentOut['status'] | 'pending'

export interface PaymentRow {
  id: string
  order_id: string
  user_id: string | null
  tenant_id: string | null
  status: PaymentStatus
  amount_minor: bigint | null
  captured_minor: bigint
  refunded_minor: bigint
  currency: string | null
  decline_reason: PaymentOut['declineReason']
  provider_ref: string | null
  lease_until: Date
  created_at: Date
  updated_at: Date
}

export const paymentColumns =
  'id, order_id, user_id, tenant_id, status, amount_minor, captured_minor, refunded_minor, currency, decline_reason, provider_ref, lease_until, created_at, updated_at'

/** Rows that customers and staff may see: not a claim still waiting for the provider, not a tombstone. */
export const visible = `user_id is not null and status <> 'pending'`

/** A row with its details (not a tombstone, not pending) as the contract's Payment. */
export function toPayment(row: PaymentRow): PaymentOut {
  if (row.status === 'pending' || row.currency === null) throw new Error(`payment ${row.id} has no outcome to show yet`)
  const currency = row.currency
  return {
    id: row.id,
    orderId: row.order_id,
    userId: row.user_id!,
    tenantId: row.tenant_id!,
    status: row.status,
    amount: toAmount(row.amount_minor ?? 0n, currency),
    captured: toAmount(row.captured_minor, currency),
    refunded: toAmount(row.refunded_minor, currency),
    currency,
    declineReason: row.decline_reason,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }
}

export async function lockByOrder(tx: Sql, orderId: string): Promise<PaymentRow | undefined> {
  const [row] = await tx.query<PaymentRow>(`select ${paymentColumns} from payments where order_id = $1 for update`, [
    orderId,
  ])
  return row
}

export async function lockById(tx: Sql, id: string): Promise<PaymentRow> {
  const [row] = await tx.query<PaymentRow>(`select ${paymentColumns} from payments where id = $1 for update`, [id])
  return row!
}

/** The data every payment event carries. */
export function eventOf(row: PaymentRow, amountMinor = row.amount_minor ?? 0n) {
  return {
    paymentId: row.id,
    orderId: row.order_id,
    userId: row.user_id!,
    tenantId: row.tenant_id!,
    amount: toAmount(amountMinor, row.currency!),
    currency: row.currency!,
  }
}
