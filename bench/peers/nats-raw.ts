// The peer of bench/events.ts: the raw NATS client moving the same messages with the same acks and
// nothing else. `publish <url> <stream> <subject> <count> <batch>` sends `count` messages with
// Nats-Msg-Id, waiting for the broker's acks a batch at a time (as the outbox relay does);
// `consume <url> <stream> <durable> <count>` acks each message as it comes and prints the time of
// the last. Each prints `AT <epoch ms>` of its first and last step.
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy } from '@nats-io/jetstream'

const [mode, url, stream, name, countText, batchText] = process.argv.slice(2)
const count = Number(countText)
const nc = await connect({ servers: url! })
const js = jetstream(nc)

if (mode === 'publish') {
  const batch = Number(batchText)
  const body = (n: number): string =>
    JSON.stringify({
      specversion: '1.0',
      id: `${process.pid}-${n}`,
      source: '/mosaic/pulse',
      type: 'pulse.beat',
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      subject: `peer-${n % 16}`,
      data: { n, run: 'peer' },
    })
  console.log(`START ${Date.now()}`)
  for (let from = 0; from < count; from += batch) {
    const acks = []
    for (let n = from; n < Math.min(count, from + batch); n++)
      acks.push(js.publish(name!, body(n), { msgID: `${process.pid}-${n}` }))
    await Promise.all(acks)
  }
  console.log(`END ${Date.now()}`)
} else {
  const jsm = await jetstreamManager(nc)
  await jsm.consumers.add(stream!, {
    durable_name: name!,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: 800,
  })
  const messages = await (await js.consumers.get(stream!, name!)).consume({ max_messages: 400 })
  console.log('READY')
  let seen = 0
  for await (const m of messages) {
    JSON.parse(m.string())
    m.ack()
    if (++seen === count) break
  }
  console.log(`END ${Date.now()}`)
}
await nc.drain()
