// The orders service: orders placed through the checkout saga (catalog stock, payments), stored
// as event streams, read from a projection of them.
import { MosaicError, requireIdentity, defineService, type RouteContext } from '../../kit/index.ts'
import { catalogContract } from '../catalog/contract.ts'
import { paymentsContract } from '../payments/contract.ts'
import { ordersContract, type OrdersContract } from './contract.ts'
import { OrdersConfig, type OrdersSettings } from './config.ts'
import { listOrders } from './views.ts'
import { startSagaRunner } from './runner.ts'
import { placeOrder, cancelOrder, visibleOrder } from './place.ts'
import { sagaReport } from './saga-report.ts'

type Ctx = RouteContext<OrdersContract, OrdersSettings>

/** Whether the caller sees every order of the tenant (staff) or only their own. */
const seesAll = (ctx: Ctx): boolean => {
  const identity = requireIdentity(ctx)
  return ctx.authorize(identity, 'orders:listAll', { type: 'Tenant', id: identity.tenantId })
}

function mayList(ctx: Ctx): void {
  const identity = requireIdentity(ctx)
  if (!ctx.authorize(identity, 'orders:list', { type: 'Tenant', id: identity.tenantId }))
    throw new MosaicError('forbidden')
}

export default defineService(ordersContract, {
  migrations: new URL('./migrations/', import.meta.url),
  config: OrdersConfig,

  async start(ctx) {
    const c = ctx.config
    return startSagaRunner(
      {
        db: ctx.db,
        log: ctx.log,
        catalog: ctx.client(catalogContract),
        payments: ctx.client(paymentsContract),
        settings: {
          stepTimeoutMs: c.ORDERS_STEP_TIMEOUT_MS,
          retryBaseMs: c.ORDERS_RETRY_BASE_MS,
          retryMaxMs: c.ORDERS_RETRY_MAX_MS,
          leaseMs: Math.max(c.ORDERS_SAGA_LEASE_MS, c.ORDERS_STEP_TIMEOUT_MS + 1000),
        },
      },
      { concurrency: c.ORDERS_SAGA_CONCURRENCY, pollMs: c.ORDERS_SAGA_POLL_MS },
    )
  },

  stop: (ctx) => ctx.state.stop(),

  routes: {
    placeOrder: ({ body, headers }, ctx) => placeOrder(body, headers, ctx, ctx.state),
    async listOrders({ query }, ctx) {
      mayList(ctx)
      const identity = requireIdentity(ctx)
      const all = seesAll(ctx)
      if (query.userId !== undefined && query.userId !== identity.userId && !all)
        throw new MosaicError('forbidden', { detail: "only staff list other customers' orders" })
      return listOrders(ctx.db, {
        tenantId: identity.tenantId,
        userId: all ? query.userId : identity.userId,
        status: query.status,
        limit: query.limit,
        cursor: query.cursor,
      })
    },
    async listUserOrders({ params, query }, ctx) {
      mayList(ctx)
      const identity = requireIdentity(ctx)
      if (params.userId !== identity.userId && !seesAll(ctx))
        throw new MosaicError('not_found', { detail: `no user ${params.userId}` })
      return listOrders(ctx.db, {
        tenantId: identity.tenantId,
        userId: params.userId,
        status: query.status,
        limit: query.limit,
        cursor: query.cursor,
      })
    },
    getOrder: ({ params }, ctx) => visibleOrder(ctx, params.id, 'orders:read'),
    cancelOrder: ({ params, headers }, ctx) => cancelOrder(params.id, headers, ctx, ctx.state),
  },
  actions: {
    // Internal: only other services and the gateway (whose /api/ops routes are for admins) call actions.
    sagas: async (input, ctx) => ({ sagas: await sagaReport(ctx.db, input) }),
  },
})
