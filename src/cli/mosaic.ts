// The `mosaic` command. Run with `npx mosaic <command>` (or `npm start` for `mosaic start`).
import { parseArgs } from 'node:util'
import { ConfigError, envPrefix, loadConfig } from '../kit/config.ts'
import { ServiceAddress } from '../runtime/config.ts'
import { MigrationError } from '../kit/db/migrations.ts'
import { topology, findService } from '../runtime/topology.ts'
import { startNode, exitOnSignals } from '../runtime/node.ts'
import { text } from 'node:stream/consumers'
import { MosaicError } from '../kit/errors.ts'
import { replayCommand } from './events.ts'
import { rebuildProjection, projections } from './projections.ts'
import { createAdminCommand, rotateKeysCommand } from './identity.ts'
import { servicesCommand, devCommand, ServicesError } from './dev.ts'

const usage = `Usage: mosaic <command>

Commands:
  start                     Run the whole system in one process: gateway on PORT (8080) and every service
                            (those with a <NAME>_SERVICE_URL are proxied to that URL instead)
  serve <service>           Run one service alone on <NAME>_SERVICE_PORT
  serve gateway             Run the gateway alone on PORT, every service remote (see docs/distributed.md)
  services [list]           List the services of the system and their default ports
  services start [names…] [--replicas name=N] [--foreground]
                            Start the gateway and services (all, or those named) as processes, distributed:
                            NATS, PostgreSQL, Redis from the environment; logs under DATA_DIR/services
  services status [--json]  The running processes: address, health, draining, circuit breakers
  services stop [names…]    Stop them gracefully (all, or those named)
  dev [--distributed]       Run the system (embedded, or a process per service) and restart it when a
                            source file changes
  events replay <service>   Send a service's dead-lettered events back for delivery [--id N ...]
  projections rebuild <service>
                            Drop a service's read model and rebuild it from its events (orders)
  users create-admin        Create an administrator: --email E [--name N] [--tenant T]; the password
                            comes from MOSAIC_ADMIN_PASSWORD or standard input
  keys rotate               Make a new access-token signing key active (the old one stays published
                            until the tokens it signed have expired)
                            (with embedded PGlite, stop 'mosaic start' before these four)
  help                      Show this text

Configuration is environment variables; see the README for the list.`

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      id: { type: 'string', multiple: true }, email: { type: 'string' }, name: { type: 'string' }, tenant: { type: 'string' },
      replicas: { type: 'string', multiple: true }, json: { type: 'boolean' }, distributed: { type: 'boolean' }, foreground: { type: 'boolean' },
    },
  })
  const [command, ...rest] = positionals
  switch (command) {
    case 'start': {
      exitOnSignals(await startNode({ role: 'gateway', services: topology.map((s) => s.definition) }))
      return
    }
    case 'serve': {
      // The gateway alone: every service is in another process, found through discovery.
      if (rest[0] === 'gateway') {
        exitOnSignals(await startNode({ role: 'gateway', services: topology.map((s) => s.definition), allRemote: true }))
        return
      }
      const entry = rest[0] ? findService(rest[0]) : undefined
      if (!entry) throw new UsageError(`serve: name one of ${topology.map((s) => s.definition.contract.name).join(', ')}`)
      const name = entry.definition.contract.name
      const variable = `${envPrefix(name)}_SERVICE_PORT`
      const port = loadConfig(ServiceAddress(name, entry.port))[variable] as number
      exitOnSignals(await startNode({ role: 'service', services: [entry.definition], system: topology.map((s) => s.definition), port }))
      return
    }
    case 'services': {
      if (rest[0] && rest[0] !== 'list') return await servicesCommand(rest[0], rest.slice(1), values)
      for (const s of topology) console.log(`${s.definition.contract.name.padEnd(16)} ${s.definition.contract.version.padEnd(8)} port ${s.port}`)
      return
    }
    case 'dev':
      return await devCommand(values.distributed ?? false)
    case 'events': {
      if (rest[0] !== 'replay' || !rest[1] || !findService(rest[1])) throw new UsageError('events replay <service> [--id N ...]')
      const replayed = await replayCommand(rest[1], values.id?.map(Number))
      console.log(`${replayed} dead-lettered event(s) of ${rest[1]} sent back for delivery`)
      return
    }
    case 'projections': {
      if (rest[0] !== 'rebuild' || !rest[1] || !projections[rest[1]]) throw new UsageError(`projections rebuild <${Object.keys(projections).join('|')}>`)
      console.log(`${await rebuildProjection(rest[1])} ${rest[1]} rebuilt from their events`)
      return
    }
    case 'users': {
      if (rest[0] !== 'create-admin' || !values.email) throw new UsageError('users create-admin --email E [--name N] [--tenant T]')
      const password = process.env.MOSAIC_ADMIN_PASSWORD || (process.stdin.isTTY ? '' : (await text(process.stdin)).trim())
      if (!password) throw new UsageError('users create-admin: give the password in MOSAIC_ADMIN_PASSWORD or on standard input')
      const created = await createAdminCommand({ email: values.email, password, ...(values.name ? { name: values.name } : {}), ...(values.tenant ? { tenant: values.tenant } : {}) })
      console.log(created ? `administrator ${values.email} created` : `${values.email} is already registered; nothing changed`)
      return
    }
    case 'keys': {
      if (rest[0] !== 'rotate') throw new UsageError('keys rotate')
      console.log(`signing key ${await rotateKeysCommand()} is now active`)
      return
    }
    case undefined: case 'help': case '--help':
      console.log(usage)
      return
    default:
      throw new UsageError(`unknown command ${command}`)
  }
}

class UsageError extends Error {}

main(process.argv.slice(2)).catch((error: unknown) => {
  // Configuration and usage mistakes are one line, not a stack trace.
  if (error instanceof ConfigError || error instanceof MigrationError || error instanceof UsageError || error instanceof MosaicError || error instanceof ServicesError) {
    console.error(`mosaic: ${error.message}`)
    if (error instanceof UsageError) console.error(usage)
  } else {
    console.error(error)
  }
  process.exit(1)
})
