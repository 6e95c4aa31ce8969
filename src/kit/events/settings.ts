// Which bus carries events, and where NATS is: read by every process (src/runtime/config.ts) and by
// discovery, whose default follows the bus (src/kit/discovery/registry.ts). Declared once, here.
import Type from 'typebox'

export const BusSettings = {
  BUS: Type.Union([Type.Literal('embedded'), Type.Literal('nats')], {
    default: 'embedded',
    description:
      'embedded: events queued in the one database all services share; nats: NATS JetStream (needed when services have databases of their own)',
  }),
  NATS_URL: Type.String({
    default: 'nats://127.0.0.1:4222',
    pattern: '^(nats|tls)://',
    description: 'The NATS server (JetStream enabled) when BUS=nats; comma-separated for a cluster',
  }),
  NATS_NAMESPACE: Type.String({
    default: 'mosaic',
    pattern: '^[a-z][a-z0-9-]*$',
    description: 'Prefix of the streams and subjects, so that several deployments can share one NATS server',
  }),
}
