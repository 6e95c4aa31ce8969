// The `mosaic` command. Run with `npx mosaic <command>` (or `npm start` for `mosaic start`).
// The commands' modules are imported when a command runs: `--help` and `--version` load nothing
// else, and answer at once even on a busy machine.
import { parseArgs } from 'node:util'
import { readFile } from 'node:fs/promises'
import { ConfigError, envPrefix, loadConfig } from '../kit/config.ts'
import { MigrationError } from '../kit/db/migrations.ts'
import { StartupError } from '../runtime/startup-error.ts'
import { UsageError, ServicesError } from './errors.ts'
import { text } from 'node:stream/consumers'
import { MosaicError } from '../kit/errors.ts'

/** Each command's synopsis and what it does: the overview (`mosaic --help`) and `mosaic <command> --help`. */
const commands: Record<string, { synopsis: string; help: string }> = {
  start: {
    synopsis: 'start',
    help: `Run the whole system in one process: gateway on PORT (8080) and every service
(those with a <NAME>_SERVICE_URL are proxied to that URL instead)`,
  },
  serve: {
    synopsis: 'serve <service>|gateway',
    help: `Run one service alone on <NAME>_SERVICE_PORT; or the gateway alone on PORT, every
service remote (see docs/distributed.md)`,
  },
  services: {
    synopsis: 'services [list|start|status|stop]',
    help: `list: the services of the system and their default ports
start [names…] [--replicas name=N,…] [--foreground]: start the gateway and services (all, or
  those named) as processes, distributed: NATS, PostgreSQL, Redis from the environment;
  logs and pid files under DATA_DIR/services
status [--json]: the running processes: address, health, draining, circuit breakers
stop [names…]: stop them gracefully (all, or those named)`,
  },
  dev: {
    synopsis: 'dev [--distributed]',
    help: `Run the system (embedded, or a process per service) and restart it when a source
file changes`,
  },
  events: {
    synopsis: 'events replay <service> [--id N ...]',
    help: "Send a service's dead-lettered events back for delivery",
  },
  projections: {
    synopsis: 'projections rebuild <service>',
    help: "Drop a service's read model and rebuild it from its events (orders)",
  },
  users: {
    synopsis: 'users create-admin --email E [--name N] [--tenant T]',
    help: `Create an administrator; the password comes from MOSAIC_ADMIN_PASSWORD
or standard input`,
  },
  keys: {
    synopsis: 'keys rotate',
    help: `Make a new access-token signing key active (the old one stays published
until the tokens it signed have expired)`,
  },
  help: { synopsis: 'help [command]', help: "Show this text, or one command's" },
}

const embeddedNote = `With embedded PGlite the data directory is held by one process at a time: stop 'mosaic start'
before events, projections, users and keys (on PostgreSQL they run beside it).`

/** `  synopsis   help`, the help aligned in a column (on the next line when the synopsis is long). */
function overviewLine({ synopsis, help }: { synopsis: string; help: string }): string {
  const indent = ' '.repeat(28)
  const text = help.replaceAll('\n', `\n${indent}`)
  return synopsis.length < 25 ? `  ${synopsis.padEnd(26)}${text}` : `  ${synopsis}\n${indent}${text}`
}

const usage = `Usage: mosaic <command>

Commands:
${Object.values(commands).map(overviewLine).join('\n')}

Options: -h, --help (also after a command), -v, --version

${embeddedNote}
Configuration is environment variables; see the README for the list.`

const commandUsage = (name: string): string => `Usage: mosaic ${commands[name]!.synopsis}\n\n${commands[name]!.help}`

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArguments(argv)
  const [command, ...rest] = positionals
  if (values.version) {
    console.log(
      (JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
        .version,
    )
    return
  }
  const about = command === 'help' ? rest[0] : command
  if (values.help || command === 'help' || command === undefined) {
    if (about !== undefined && !commands[about]) throw new UsageError(`unknown command ${about}`)
    console.log(about ? commandUsage(about) : usage)
    return
  }
  if (!commands[command]) throw new UsageError(`unknown command ${command}`)
  const { topology, findService } = await import('../runtime/topology.ts')
  const { startNode, exitOnSignals } = await import('../runtime/node.ts')
  switch (command) {
    case 'start': {
      exitOnSignals(await startNode({ role: 'gateway', services: topology.map((s) => s.definition) }))
      return
    }
    case 'serve': {
      // The gateway alone: every service is in another process, found through discovery.
      if (rest[0] === 'gateway') {
        exitOnSignals(
          await startNode({ role: 'gateway', services: topology.map((s) => s.definition), allRemote: true }),
        )
        return
      }
      const entry = rest[0] ? findService(rest[0]) : undefined
      if (!entry)
        throw new UsageError(
          `serve: name one of ${topology.map((s) => s.definition.contract.name).join(', ')}, or gateway`,
        )
      const name = entry.definition.contract.name
      const variable = `${envPrefix(name)}_SERVICE_PORT`
      const { ServiceAddress } = await import('../runtime/config.ts')
      const port = loadConfig(ServiceAddress(name, entry.port))[variable] as number
      exitOnSignals(
        await startNode({
          role: 'service',
          services: [entry.definition],
          system: topology.map((s) => s.definition),
          port,
          portVariable: variable,
        }),
      )
      return
    }
    case 'services': {
      if (rest[0] && rest[0] !== 'list') {
        const { servicesCommand } = await import('./dev.ts')
        return await servicesCommand(rest[0], rest.slice(1), values)
      }
      for (const s of topology)
        console.log(
          `${s.definition.contract.name.padEnd(16)} ${s.definition.contract.version.padEnd(8)} port ${s.port}`,
        )
      return
    }
    case 'dev': {
      const { devCommand } = await import('./dev.ts')
      return await devCommand(values.distributed ?? false)
    }
    case 'events': {
      if (rest[0] !== 'replay' || !rest[1] || !findService(rest[1]))
        throw new UsageError('events replay <service> [--id N ...]')
      const { replayCommand } = await import('./events.ts')
      const replayed = await replayCommand(rest[1], values.id?.map(Number))
      console.log(`${replayed} dead-lettered event(s) of ${rest[1]} sent back for delivery`)
      return
    }
    case 'projections': {
      const { rebuildProjection, projections } = await import('./projections.ts')
      if (rest[0] !== 'rebuild' || !rest[1] || !projections[rest[1]])
        throw new UsageError(`projections rebuild <${Object.keys(projections).join('|')}>`)
      console.log(`${await rebuildProjection(rest[1])} ${rest[1]} rebuilt from their events`)
      return
    }
    case 'users': {
      if (rest[0] !== 'create-admin' || !values.email)
        throw new UsageError('users create-admin --email E [--name N] [--tenant T]')
      const password =
        process.env.MOSAIC_ADMIN_PASSWORD || (process.stdin.isTTY ? '' : (await text(process.stdin)).trim())
      if (!password)
        throw new UsageError('users create-admin: give the password in MOSAIC_ADMIN_PASSWORD or on standard input')
      const { createAdminCommand } = await import('./identity.ts')
      const created = await createAdminCommand({
        email: values.email,
        password,
        ...(values.name ? { name: values.name } : {}),
        ...(values.tenant ? { tenant: values.tenant } : {}),
      })
      console.log(
        created ? `administrator ${values.email} created` : `${values.email} is already registered; nothing changed`,
      )
      return
    }
    case 'keys': {
      if (rest[0] !== 'rotate') throw new UsageError('keys rotate')
      const { rotateKeysCommand } = await import('./identity.ts')
      console.log(`signing key ${await rotateKeysCommand()} is now active`)
      return
    }
    default:
      throw new UsageError(`unknown command ${command}`)
  }
}

function parseArguments(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      options: {
        id: { type: 'string', multiple: true },
        email: { type: 'string' },
        name: { type: 'string' },
        tenant: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        replicas: { type: 'string', multiple: true },
        json: { type: 'boolean' },
        distributed: { type: 'boolean' },
        foreground: { type: 'boolean' },
      },
    })
  } catch (error) {
    throw new UsageError((error as Error).message) // an unknown or malformed option
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  // Configuration and usage mistakes are one line, not a stack trace.
  if (
    error instanceof ConfigError ||
    error instanceof MigrationError ||
    error instanceof UsageError ||
    error instanceof MosaicError ||
    error instanceof StartupError ||
    error instanceof ServicesError
  ) {
    console.error(`mosaic: ${error.message}`)
    if (error instanceof UsageError) console.error(usage)
  } else {
    console.error(error)
  }
  process.exit(1)
})
