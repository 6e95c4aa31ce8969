// The identity commands of `mosaic`: the first administrator and key rotation, run against the
// embedded database while the system is stopped, then seen by the system when it starts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cli, runNode, spawnNode, tempDataDir } from './process.ts'

const PASSWORD = 'correct horse battery staple'

test('users create-admin and keys rotate prepare a system that signs the admin in with the new key', async (t) => {
  const env = { DATA_DIR: await tempDataDir(t), LOG_LEVEL: 'warn', LOG_PRETTY: 'false', CATALOG_SEED_DEMO: 'false' }

  const weak = await runNode([cli, 'users', 'create-admin', '--email', 'boss@example.com'], { ...env, MOSAIC_ADMIN_PASSWORD: 'password1' })
  assert.equal(weak.code, 1)
  assert.equal(weak.stderr.trim(), 'mosaic: admin password is too common', 'one line, no stack trace')
  const missing = await runNode([cli, 'users', 'create-admin', '--email', 'boss@example.com'], { ...env, MOSAIC_ADMIN_PASSWORD: '' })
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /MOSAIC_ADMIN_PASSWORD or on standard input/)

  const created = await runNode([cli, 'users', 'create-admin', '--email', 'Boss@Example.com', '--name', 'Boss'], { ...env, MOSAIC_ADMIN_PASSWORD: PASSWORD })
  assert.equal(created.code, 0, created.stderr)
  assert.match(created.stdout, /administrator Boss@Example.com created/)
  const again = await runNode([cli, 'users', 'create-admin', '--email', 'boss@example.com'], { ...env, MOSAIC_ADMIN_PASSWORD: 'another long passphrase' })
  assert.equal(again.code, 0)
  assert.match(again.stdout, /already registered; nothing changed/)

  const rotated = await runNode([cli, 'keys', 'rotate'], env)
  assert.equal(rotated.code, 0, rotated.stderr)
  const kid = /signing key (\S+) is now active/.exec(rotated.stdout)?.[1]
  assert.ok(kid, rotated.stdout)

  const node = await spawnNode([cli, 'start'], { ...env, PORT: '0', LOG_LEVEL: 'info' })
  t.after(() => node.kill('SIGTERM'))
  const jwks = await (await fetch(new URL('/.well-known/jwks.json', node.url))).json() as { keys: { kid: string }[] }
  assert.equal(jwks.keys.length, 2, 'the new key and the one it retired, still within the token lifetime')
  assert.equal(jwks.keys[0]!.kid, kid, 'newest first')

  const login = await fetch(new URL('/api/users/login', node.url), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'boss@example.com', password: PASSWORD }),
  })
  assert.equal(login.status, 200, 'the first password stands; the second create-admin changed nothing')
  const { accessToken } = await login.json() as { accessToken: string }
  const header = JSON.parse(Buffer.from(accessToken.split('.')[0]!, 'base64url').toString()) as { kid: string }
  assert.equal(header.kid, kid, 'tokens are signed with the rotated-in key')
  const users = await fetch(new URL('/api/users', node.url), { headers: { authorization: `Bearer ${accessToken}` } })
  assert.equal(users.status, 200, 'the admin may list users')
  const listed = await users.json() as { items: { email: string, roles: string[] }[] }
  assert.deepEqual(listed.items.map((u) => [u.email, u.roles]), [['boss@example.com', ['admin']]])
})
