// `/_mosaic/ops/...` on a service's own server: what the gateway's operator API (gateway/ops/)
// asks each process about itself (process-ops.ts). Like the actions endpoint, reached only with
// an internal credential (trustEdge checks it for every /_mosaic/ path), and only the gateway's:
// a service has no business reading another's dead letters or spans.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import Type from 'typebox'
import { MosaicError } from '../errors.ts'
import { CALLER_HEADER, type Credentials } from './credentials.ts'
import type { ProcessOps } from './process-ops.ts'

export const OPS_PATH = '/_mosaic/ops'

export function opsEndpoint(ops: ProcessOps, credentials: Credentials): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    app.addHook('onRequest', async (request) => {
      const caller = await credentials.verifyCaller(String(request.headers[CALLER_HEADER] ?? ''))
      if (caller !== 'gateway')
        throw new MosaicError('forbidden', { detail: `${caller} may not read the operator view` })
    })
    app.get(`${OPS_PATH}/bus`, () => ops.bus())
    app.post<{ Body: { service: string; ids?: number[] } }>(
      `${OPS_PATH}/replay`,
      {
        schema: {
          body: Type.Object(
            { service: Type.String(), ids: Type.Optional(Type.Array(Type.Integer())) },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => ({ replayed: await ops.replay(request.body.service, request.body.ids) }),
    )
    app.get<{ Querystring: { traceId?: string } }>(`${OPS_PATH}/spans`, (request) => ({
      spans: ops.spans(request.query.traceId),
    }))
  }
}
