// The identity commands of `mosaic`: the first administrator and key rotation, run against the
// embedded database while the system is stopped, then seen by the system when it starts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { delimiter, dirname, join } from 'node:path'
import { cli, runNode, spawnNode, tempDataDir } from './process.ts'
import { NODE_FLAGS } from '../src/runtime/node-flags.ts'

const bin = join(import.meta.dirname, '..', 'bin', 'mosaic.js')
const node = process.execPath
import { adminEnv, INTERNAL_SECRET } from './auth.ts'
import { natsNamespace } from './infra.ts'

const PASSWORD = 'correct horse battery staple'

test('users create-admin and keys rotate prepare a system that signs the admin in with the new key', async (t) => {
  const env = { DATA_DIR: await tempDataDir(t), LOG_LEVEL: 'warn', LOG_PRETTY: 'false', CATALOG_SEED_DEMO: 'false' }

  const weak = await runNode([cli, 'users', 'create-admin', '--email', 'boss@example.com'], {
    ...env,
    MOSAIC_ADMIN_PASSWORD: 'password1',
  })
  assert.equal(weak.code, 1)
  assert.equal(weak.stderr.trim(), 'mosaic: admin password is too common', 'one line, no stack trace')
  const missing = await runNode([cli, 'users', 'create-admin', '--email', 'boss@example.com'], {
    ...env,
    MOSAIC_ADMIN_PASSWORD: '',
  })
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /MOSAIC_ADMIN_PASSWORD or on standard input/)

  const created = await runNode([cli, 'users', 'create-admin', '--email', 'Boss@Example.com', '--name', 'Boss'], {
    ...env,
    MOSAIC_ADMIN_PASSWORD: PASSWORD,
  })
  assert.equal(created.code, 0, created.stderr)
  assert.match(created.stdout, /administrator Boss@Example.com created/)
  const again = await runNode([cli, 'users', 'create-admin', '--email', 'boss@example.com'], {
    ...env,
    MOSAIC_ADMIN_PASSWORD: 'another long passphrase',
  })
  assert.equal(again.code, 0)
  assert.match(again.stdout, /already registered; nothing changed/)

  const rotated = await runNode([cli, 'keys', 'rotate'], env)
  assert.equal(rotated.code, 0, rotated.stderr)
  const kid = /signing key (\S+) is now active/.exec(rotated.stdout)?.[1]
  assert.ok(kid, rotated.stdout)

  const node = await spawnNode([cli, 'start'], { ...env, PORT: '0', LOG_LEVEL: 'info' })
  t.after(() => node.kill('SIGTERM'))
  const jwks = (await (await fetch(new URL('/.well-known/jwks.json', node.url))).json()) as { keys: { kid: string }[] }
  assert.equal(jwks.keys.length, 2, 'the new key and the one it retired, still within the token lifetime')
  assert.equal(jwks.keys[0]!.kid, kid, 'newest first')

  const login = await fetch(new URL('/api/users/login', node.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'boss@example.com', password: PASSWORD }),
  })
  assert.equal(login.status, 200, 'the first password stands; the second create-admin changed nothing')
  const { accessToken } = (await login.json()) as { accessToken: string }
  const header = JSON.parse(Buffer.from(accessToken.split('.')[0]!, 'base64url').toString()) as { kid: string }
  assert.equal(header.kid, kid, 'tokens are signed with the rotated-in key')
  const users = await fetch(new URL('/api/users', node.url), { headers: { authorization: `Bearer ${accessToken}` } })
  assert.equal(users.status, 200, 'the admin may list users')
  const listed = (await users.json()) as { items: { email: string; roles: string[] }[] }
  assert.deepEqual(
    listed.items.map((u) => [u.email, u.roles]),
    [['boss@example.com', ['admin']]],
  )
})

test('--help, -h, --version and <command> --help print and exit 0', { concurrency: true }, async (t) => {
  const { version } = JSON.parse(await readFile(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
    version: string
  }
  const cases: [args: string[], expected: RegExp][] = [
    [['--help'], /^Usage: mosaic <command>\n[\s\S]*^ {2}keys rotate /m],
    [['-h'], /^Usage: mosaic <command>\n/],
    [['--version'], new RegExp(`^${version.replaceAll('.', '\\.')}\n$`)],
    [['-v'], new RegExp(`^${version.replaceAll('.', '\\.')}\n$`)],
    [['start', '--help'], /^Usage: mosaic start\n\nRun the whole system/],
    [['users', 'create-admin', '-h'], /^Usage: mosaic users create-admin --email E/],
    [['help', 'serve'], /^Usage: mosaic serve <service>\|gateway\n/],
  ]
  await Promise.all(
    cases.map(([args, expected]) =>
      t.test(args.join(' '), async () => {
        const { code, stdout, stderr } = await runNode([cli, ...args], {})
        assert.equal(code, 0, stderr)
        assert.match(stdout, expected)
        assert.equal(stderr, '')
      }),
    ),
  )
  const bogus = await runNode([cli, '--bogus'], {})
  assert.equal(bogus.code, 1)
  assert.match(bogus.stderr, /^mosaic: Unknown option '--bogus'/, 'a bad option is a usage error, not a stack trace')
  assert.doesNotMatch(bogus.stderr, /\n {4}at /)
})

test('one process at a time on an embedded data directory; a lock left by a killed process is taken over', async (t) => {
  const env = { DATA_DIR: await tempDataDir(t), LOG_LEVEL: 'info', LOG_PRETTY: 'false', CATALOG_SEED_DEMO: 'false' }
  // Through bin/mosaic.js, which gives itself Mosaic's Node flags by replacing itself (execve): the
  // lock must name, and SIGKILL must stop, the very process spawned.
  const running = await spawnNode([bin, 'start'], { ...env, PORT: '0' }, 90_000)
  t.after(() => running.kill())
  if (process.platform !== 'win32')
    assert.equal(argsOf(running.process.pid!), [node, ...NODE_FLAGS, bin, 'start'].join(' '))
  const holder = new RegExp(
    `^mosaic: the data directory \\S+ is in use by \`mosaic start\` \\(pid ${running.process.pid}\\): stop it first, or use another DATA_DIR\n$`,
  )

  const rotate = await runNode([cli, 'keys', 'rotate'], env, 90_000)
  assert.equal(rotate.code, 1)
  assert.match(rotate.stderr, holder)
  assert.doesNotMatch(rotate.stdout, /is now active/, 'nothing was done, so nothing is reported done')
  const second = await runNode([cli, 'start'], { ...env, PORT: '0' }, 90_000)
  assert.equal(second.code, 1)
  assert.match(second.stderr, holder)
  assert.equal(second.stdout, '', 'refused before opening the database or starting any service')

  assert.equal(await running.kill('SIGKILL'), 'SIGKILL')
  const after = await runNode([cli, 'keys', 'rotate'], env, 90_000)
  assert.equal(after.code, 0, after.stderr)
  assert.match(after.stdout, /signing key \S+ is now active/, 'the stale lock of a dead process does not block')
  const restarted = await spawnNode([cli, 'start'], { ...env, PORT: '0' }, 90_000)
  t.after(() => restarted.kill('SIGTERM'))
  assert.equal(
    (await fetch(new URL('/health/ready', restarted.url))).status,
    200,
    'the command released the lock when it finished',
  )
})

test('common start failures are one line on stderr and exit 1', { concurrency: true }, async (t) => {
  const taken = createServer().listen(0, '127.0.0.1')
  await once(taken, 'listening')
  t.after(() => taken.close())
  const closed = createServer().listen(0, '127.0.0.1')
  await once(closed, 'listening')
  const closedPort = (closed.address() as AddressInfo).port
  closed.close()
  const takenPort = (taken.address() as AddressInfo).port
  const base = { LOG_LEVEL: 'warn', LOG_PRETTY: 'false', CATALOG_SEED_DEMO: 'false', ...adminEnv }
  const cases: [name: string, args: string[], env: Record<string, string>, line: RegExp][] = [
    [
      'port in use',
      ['start'],
      { DATA_DIR: ':memory:', PORT: String(takenPort) },
      new RegExp(
        `^mosaic: port ${takenPort} on 127\\.0\\.0\\.1 is already in use \\(PORT\\): stop the process using it, or set PORT to a free port$`,
      ),
    ],
    // Alone, catalog keeps its events on NATS (the embedded bus would refuse the layout first).
    [
      'a service port in use',
      ['serve', 'catalog'],
      {
        DATA_DIR: ':memory:',
        CATALOG_SERVICE_PORT: String(takenPort),
        MOSAIC_INTERNAL_SECRET: INTERNAL_SECRET,
        BUS: 'nats',
        NATS_NAMESPACE: natsNamespace(t),
      },
      new RegExp(`^mosaic: port ${takenPort} on 127\\.0\\.0\\.1 is already in use \\(CATALOG_SERVICE_PORT\\)`),
    ],
    [
      'DATABASE_URL unreachable',
      ['start'],
      { PORT: '0', DATABASE_URL: `postgres://mosaic:hunter2@127.0.0.1:${closedPort}/none` },
      new RegExp(
        `^mosaic: cannot use the database at DATABASE_URL postgres://mosaic:\\*\\*\\*@127\\.0\\.0\\.1:${closedPort}/none \\(.*ECONNREFUSED.*\\): start PostgreSQL there, or correct DATABASE_URL$`,
      ),
    ],
    [
      'DATA_DIR under a file',
      ['start'],
      { PORT: '0', DATA_DIR: '/etc/hostname/mosaic' },
      /^mosaic: cannot create the data directory \/etc\/hostname\/mosaic\/embedded \(ENOTDIR\): set DATA_DIR to a directory this user may write/,
    ],
    [
      'DATA_DIR in /proc',
      ['start'],
      { PORT: '0', DATA_DIR: '/proc/mosaic' },
      /^mosaic: cannot create the data directory \/proc\/mosaic\/embedded \(ENOENT\)/,
    ],
    [
      'DATA_DIR held by a command',
      ['users', 'create-admin', '--email', 'a@example.com'],
      { DATA_DIR: '/proc/mosaic', MOSAIC_ADMIN_PASSWORD: PASSWORD },
      /^mosaic: cannot create the data directory \/proc\/mosaic\/embedded/,
    ],
  ]
  await Promise.all(
    cases.map(([name, args, env, line]) =>
      t.test(name, async () => {
        const { code, stderr } = await runNode([cli, ...args], { ...base, ...env }, 90_000)
        assert.equal(code, 1, stderr)
        assert.equal(stderr.split('\n').length, 2, `one line:\n${stderr}`)
        assert.match(stderr.trimEnd(), line)
      }),
    ),
  )
})

test('SIGTERM to `npm start` stops the server: the port is free and no process is left', {
  skip: process.platform === 'win32',
}, async (t) => {
  const env = {
    ...process.env,
    PORT: '0',
    DATA_DIR: await tempDataDir(t),
    LOG_LEVEL: 'info',
    LOG_PRETTY: 'false',
    CATALOG_SEED_DEMO: 'false',
    PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}`,
  }
  const npm = spawn('npm', ['start'], { cwd: join(import.meta.dirname, '..'), env, stdio: ['ignore', 'pipe', 'pipe'] })
  const descendants = new Set<number>()
  t.after(() => {
    for (const pid of [npm.pid!, ...descendants]) if (alive(pid)) process.kill(pid, 'SIGKILL')
  })
  let output = ''
  npm.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  npm.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const url = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const match = /"url":"(http[^"]+)"/.exec(output)
      if (match) resolve(match[1]!)
    }
    npm.stdout.on('data', check)
    npm.once('exit', () => reject(new Error(`npm start exited:\n${output}`)))
  })
  for (const pid of childrenOf(npm.pid!)) descendants.add(pid)
  assert.ok(descendants.size > 0, 'npm runs the server as its child')
  const server = [...descendants].map(argsOf).find((args) => args.includes('bin/mosaic.js start'))
  assert.match(
    server ?? '',
    new RegExp(`^node ${NODE_FLAGS.join(' ')} bin/mosaic\\.js start$`),
    'npm start passes the flags itself',
  )
  assert.equal((await fetch(new URL('/health/live', url))).status, 200)

  const exited = once(npm, 'exit')
  npm.kill('SIGTERM')
  await exited
  await assert.rejects(fetch(new URL('/health/live', url)), 'nothing answers on the port any more')
  const left = [...descendants].filter(alive)
  assert.deepEqual(left, [], `still running after npm exited: ${left.join(', ')}`)
})

/** A process's command line (Linux and macOS `ps`). */
function argsOf(pid: number): string {
  return execFileSync('ps', ['-o', 'args=', '-p', String(pid)])
    .toString()
    .trim()
}

/** The pids of a process's descendants (Linux and macOS `ps`). */
function childrenOf(pid: number): number[] {
  const rows = execFileSync('ps', ['-A', '-o', 'pid=,ppid='])
    .toString()
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number])
  const direct = rows.filter(([, ppid]) => ppid === pid).map(([child]) => child)
  return [...direct, ...direct.flatMap(childrenOf)]
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
