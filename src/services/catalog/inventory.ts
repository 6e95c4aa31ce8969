// Inventory actions for the checkout saga. The order id is the idempotency key: each action,
// repeated, returns the first outcome and changes nothing more. Stock is taken with a
// conditional UPDATE (never below zero, whatever runs concurrently), lines in id order so two
// orders never wait on each other's rows in opposite order. The product rows are updated last,
// just before the commit: every order of one product waits for the row lock of the order before
// it until that one commits, and each round trip between the update and the commit (the outbox
// insert, a turn of a busy event loop) is held by every order of that product in turn
// (bench/checkout.ts, one product: its lock wait per order 49–60 → 25–26 ms, docs/benchmarks.md).
import { MosaicError, type ServiceTx, type Static } from '../../kit/index.ts'
import type { catalogContract, CatalogContract } from './contract.ts'
import { invalidateProducts } from './products.ts'

type Reservation = Static<typeof catalogContract.actions.reserveStock.output>
type Line = { productId: string; quantity: number }
interface ReservationRow {
  order_id: string
  status: Reservation['status']
  items: Line[]
}

const toReservation = (row: ReservationRow): Reservation => ({
  orderId: row.order_id,
  status: row.status,
  items: row.items,
})

/** Lines for the same product are merged, and sorted by product id (the locking order). */
function normalise(items: readonly Line[]): Line[] {
  const merged = new Map<string, number>()
  for (const { productId, quantity } of items) merged.set(productId, (merged.get(productId) ?? 0) + quantity)
  return [...merged]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([productId, quantity]) => ({ productId, quantity }))
}

async function find(tx: ServiceTx, orderId: string, lock = false): Promise<ReservationRow | undefined> {
  const [row] = await tx.query<ReservationRow>(
    `select order_id, status, items from reservations where order_id = $1${lock ? ' for update' : ''}`,
    [orderId],
  )
  return row
}

export async function reserve(
  tx: ServiceTx<CatalogContract>,
  orderId: string,
  requested: readonly Line[],
  lowStockThreshold: number,
): Promise<Reservation> {
  const items = normalise(requested)
  // Claim the order id first: a concurrent or repeated call waits here, then sees the outcome.
  const claimed = await tx.query(
    `insert into reservations (order_id, status, items) values ($1, 'reserved', $2::text::jsonb)
    on conflict (order_id) do nothing returning order_id`,
    [orderId, JSON.stringify(items)],
  )
  if (claimed.length === 0) return toReservation((await find(tx, orderId))!)
  // Published before the stock is taken (see the top of the file); a line that cannot be served
  // throws below, which rolls this back with the rest.
  await tx.publish('inventory.reserved', { orderId, items }, { subject: orderId })
  invalidateProducts(
    tx,
    items.map((line) => line.productId),
  )

  for (const { productId, quantity } of items) {
    const [taken] = await tx.query<{ stock: number }>(
      'update products set stock = stock - $2, updated_at = now() where id = $1 and stock >= $2 returning stock',
      [productId, quantity],
    )
    if (!taken) {
      const [exists] = await tx.query<{ stock: number }>('select stock from products where id = $1', [productId])
      // Throwing rolls back the claim and every line taken so far: all lines or none.
      if (!exists) throw new MosaicError('not_found', { detail: `product ${productId} does not exist` })
      throw new MosaicError('out_of_stock', {
        detail: `product ${productId}: ${quantity} requested, ${exists.stock} available`,
      })
    }
    if (taken.stock <= lowStockThreshold && taken.stock + quantity > lowStockThreshold) {
      await tx.publish(
        'inventory.low',
        { productId, stock: taken.stock, threshold: lowStockThreshold },
        { subject: productId },
      )
    }
  }
  return { orderId, status: 'reserved', items }
}

/**
 * Gives the stock of an order back, whether it is still reserved or already committed (an order
 * cancelled after it was confirmed, or whose payment could not be taken after the commit): stock
 * is then always initial − what confirmed orders hold. A product deleted since gets nothing back.
 */
export async function release(tx: ServiceTx<CatalogContract>, orderId: string): Promise<Reservation> {
  const row = await find(tx, orderId, true)
  if (!row) {
    // Compensation may run before (or instead of) a reservation that timed out on the way:
    // record the release so a late reserve with this order id finds it and holds nothing.
    await tx.query(`insert into reservations (order_id, status, items) values ($1, 'released', '[]')`, [orderId])
    return { orderId, status: 'released', items: [] }
  }
  if (row.status === 'released') return toReservation(row)
  await tx.query(`update reservations set status = 'released', updated_at = now() where order_id = $1`, [orderId])
  invalidateProducts(
    tx,
    row.items.map((line) => line.productId),
  )
  await tx.publish('inventory.released', { orderId, items: row.items }, { subject: orderId })
  // The product rows last, as in `reserve`.
  for (const { productId, quantity } of row.items) {
    await tx.query('update products set stock = stock + $2, updated_at = now() where id = $1', [productId, quantity])
  }
  return { ...toReservation(row), status: 'released' }
}

export async function commit(tx: ServiceTx<CatalogContract>, orderId: string): Promise<Reservation> {
  const row = await find(tx, orderId, true)
  if (!row) throw new MosaicError('not_found', { detail: `no stock is held for order ${orderId}` })
  if (row.status === 'committed') return toReservation(row)
  if (row.status === 'released')
    throw new MosaicError('reservation_closed', { detail: `stock for order ${orderId} was released` })
  await tx.query(`update reservations set status = 'committed', updated_at = now() where order_id = $1`, [orderId])
  await tx.publish('inventory.committed', { orderId, items: row.items }, { subject: orderId })
  return { ...toReservation(row), status: 'committed' }
}
