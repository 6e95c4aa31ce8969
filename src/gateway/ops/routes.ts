// The operator API's routes (contract.ts) on the gateway. Authentication and the admin role are
// the route table's (policies/routes/ops.json), checked by the gateway's authenticator like any
// /api route; the schemas validate the input as a service's routes do.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import type { Static } from 'typebox'
import type { Client } from '../../kit/service.ts'
import type { ordersContract } from '../../services/orders/contract.ts'
import { opsContract } from './contract.ts'
import type { OpsSystem } from './system.ts'
import type { createRouteStats } from './route-stats.ts'

const r = opsContract.routes

export interface OpsRouteOptions {
  readonly system: OpsSystem
  readonly stats: ReturnType<typeof createRouteStats>
  readonly orders: Client<typeof ordersContract>
}

export function opsRoutes({ system, stats, orders }: OpsRouteOptions): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    app.get(r.services.path, () => system.services())
    app.get(r.bus.path, () => system.bus())
    app.post<{ Body: Static<typeof r.replay.body> }>(
      r.replay.path,
      { schema: { body: r.replay.body } },
      async (req) => ({
        replayed: await system.replay(req.body.service, req.body.ids),
      }),
    )
    app.get<{ Querystring: Static<typeof r.sagas.query> }>(
      r.sagas.path,
      { schema: { querystring: r.sagas.query } },
      (req) => orders.sagas({ limit: req.query.limit ?? 50, all: req.query.all ?? false }),
    )
    app.get(r.traces.path, async () => ({ traces: await system.traces() }))
    app.get<{ Params: Static<typeof r.trace.params> }>(
      r.trace.path,
      { schema: { params: r.trace.params } },
      async (req) => ({ traceId: req.params.traceId, spans: await system.trace(req.params.traceId) }),
    )
    app.get(r.routes.path, () => stats.report())
  }
}
