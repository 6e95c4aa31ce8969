// Accounts: mass assignment (a client naming fields it may not set), registration's input
// handling, changing a password, and never showing a hash.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import {
  startIdentityNode,
  call,
  assertProblem,
  assertFieldError,
  assertNoSecrets,
  signUp,
  register,
  login,
  tryLogin,
  cookieLogin,
  identityDb,
  userRow,
  uniqueEmail,
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  PASSWORD,
  type TestNode,
  type Tokens,
  type User,
  type Reply,
} from './helpers.ts'

let node: TestNode
let customer: { user: User; tokens: Tokens; email: string }
let other: User
let admin: Tokens

before(async () => {
  node = await startIdentityNode()
  customer = await signUp(node)
  other = await register(node)
  admin = await login(node, ADMIN_EMAIL, ADMIN_PASSWORD)
})
after(() => node?.stop())

const me = (tokens: Tokens) => call<User>(node, 'GET', '/api/users/me', { token: tokens.accessToken })

async function userCount(): Promise<number> {
  const [row] = await identityDb(node).query<{ n: bigint }>('select count(*) as n from users')
  return Number(row!.n)
}

async function usersWithEmail(email: string): Promise<number> {
  const [row] = await identityDb(node).query<{ n: bigint }>(
    'select count(*) as n from users where lower(email) = lower($1)',
    [email],
  )
  return Number(row!.n)
}

test('PATCH /api/users/me naming roles, tenantId, email, id (or any other field) is refused and changes nothing', async () => {
  const beforeMe = (await me(customer.tokens)).body
  const beforeRow = await userRow(node, customer.user.id)
  const attempts: Record<string, unknown>[] = [
    { roles: ['admin'] },
    { tenantId: 'acme' },
    { tenant: 'acme' },
    { email: 'new-address@example.test' },
    { id: randomUUID() },
    { mfaEnabled: false },
    { passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$AAAA$BBBB' },
    { createdAt: '2000-01-01T00:00:00.000Z' },
    // Mixed with an allowed field: the whole request is refused, the name is not half-applied.
    { name: 'Sneaky', roles: ['admin'] },
    { name: 'Sneaky', tenantId: 'acme', email: 'x@example.test', id: other.id },
  ]
  for (const body of attempts) {
    const reply = await call(node, 'PATCH', '/api/users/me', { token: customer.tokens.accessToken, json: body })
    const field = Object.keys(body).find((k) => k !== 'name')!
    const problem = assertFieldError(reply, `/${field}`)
    assert.ok(
      problem.errors!.every((e) => e.path !== '/name'),
      'name itself was fine',
    )
  }
  // A prototype-polluting body is refused too (the JSON parser rejects __proto__ outright).
  const proto = await call(node, 'PATCH', '/api/users/me', {
    token: customer.tokens.accessToken,
    body: '{"name":"Proto","__proto__":{"roles":["admin"]}}',
    headers: { 'content-type': 'application/json' },
  })
  assert.ok([400, 422].includes(proto.status), proto.text)
  assert.match(proto.headers.get('content-type') ?? '', /^application\/problem\+json/)

  assert.deepEqual((await me(customer.tokens)).body, beforeMe, 'GET /me is unchanged')
  assert.deepEqual(await userRow(node, customer.user.id), beforeRow, 'the stored row is unchanged, updated_at included')
  assertProblem(
    await call(node, 'GET', '/api/users', { token: customer.tokens.accessToken }),
    403,
    'forbidden',
    'still a customer',
  )
})

test("a customer cannot set roles, neither someone else's nor their own", async () => {
  for (const target of [other.id, customer.user.id]) {
    const reply = await call(node, 'PATCH', `/api/users/${target}/roles`, {
      token: customer.tokens.accessToken,
      json: { roles: ['admin'] },
    })
    assertProblem(reply, 403, 'forbidden')
  }
  assert.deepEqual((await userRow(node, other.id))!.roles, ['customer'])
  assert.deepEqual((await userRow(node, customer.user.id))!.roles, ['customer'])
  // Nor does an admin get to invent a role.
  assertFieldError(
    await call(node, 'PATCH', `/api/users/${other.id}/roles`, { token: admin.accessToken, json: { roles: ['root'] } }),
    '/roles/0',
  )
  assertFieldError(
    await call(node, 'PATCH', `/api/users/${other.id}/roles`, { token: admin.accessToken, json: { roles: [] } }),
    '/roles',
  )
  assert.deepEqual((await userRow(node, other.id))!.roles, ['customer'])
})

test('registering with extra fields (roles: admin, tenantId, id) is refused and creates nobody', async () => {
  const extras: Record<string, unknown>[] = [
    { roles: ['admin'] },
    { tenantId: 'default', roles: ['staff'] },
    { id: randomUUID() },
    { mfaEnabled: true },
  ]
  for (const extra of extras) {
    const email = uniqueEmail('escalate')
    const reply = await call(node, 'POST', '/api/users', {
      json: { email, password: PASSWORD, name: 'Escalator', ...extra },
    })
    assertFieldError(reply, `/${Object.keys(extra)[0]}`)
    assert.equal(await usersWithEmail(email), 0, `no account for ${JSON.stringify(extra)}`)
  }
})

test('a duplicate email gets the same answer as a new one, in any case; the first account is untouched and its owner is told', async () => {
  const email = uniqueEmail('dup')
  const first = await register(node, { email })
  const row = await userRow(node, first.id)
  const fresh = await call<User>(node, 'POST', '/api/users', {
    json: { email: uniqueEmail('dup-fresh'), password: 'An0ther-decent-passphrase', name: 'Impostor' },
  })
  const shape = (reply: Reply<User>) => [
    reply.status,
    Object.keys(reply.body).sort(),
    reply.body.roles,
    reply.body.mfaEnabled,
    Boolean(reply.headers.get('location')),
  ]
  for (const again of [email, email.toUpperCase(), email.replace(/^./, (c) => c.toUpperCase())]) {
    const reply = await call<User>(node, 'POST', '/api/users', {
      json: { email: again, password: 'An0ther-decent-passphrase', name: 'Impostor' },
    })
    assert.deepEqual(shape(reply), shape(fresh), again)
    assert.notEqual(reply.body.id, first.id, 'nothing of the existing account is shown')
    assert.equal(reply.body.name, 'Impostor')
  }
  // An unknown tenant answers the same way too.
  assert.deepEqual(
    shape(
      await call<User>(node, 'POST', '/api/users', {
        json: { email: uniqueEmail(), password: PASSWORD, name: 'Impostor', tenant: 'no-such-tenant' },
      }),
    ),
    shape(fresh),
  )
  // The owner gets one mail per attempt (the notification rows, whatever the transport does with them).
  const notices = async () =>
    Number(
      (
        await node.node.engine
          .forSchema('notifications')
          .query<{ n: bigint }>(
            "select count(*) as n from notifications where user_id = $1 and event_type = 'user.registration_repeated'",
            [first.id],
          )
      )[0]!.n,
    )
  for (const until = Date.now() + 10_000; (await notices()) < 3 && Date.now() < until; )
    await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(await notices(), 3)
  assert.equal(await usersWithEmail(email), 1)
  assert.deepEqual(await userRow(node, first.id), row)
  // Sign-in is case-insensitive too, and with the first password only.
  assert.equal((await tryLogin(node, email.toUpperCase(), PASSWORD)).status, 200)
  assertProblem(await tryLogin(node, email, 'An0ther-decent-passphrase'), 401, 'invalid_credentials')
})

test('weak passwords are 422 weak_password naming /password: short, common, the email, too long, blank, control characters', async () => {
  const email = uniqueEmail('weak')
  const weak = [
    'short1',
    'Abc!12',
    'password123',
    'PASSWORD123',
    '12345678',
    'qwertyuiop',
    email,
    email.split('@')[0]!,
    'x'.repeat(129),
    ' '.repeat(8),
    '\u3000'.repeat(8),
    '\t'.repeat(8),
    'ｐａｓｓｗｏｒｄ',
    'tab\tin-the-middle',
  ]
  for (const password of weak) {
    const reply = await call(node, 'POST', '/api/users', { json: { email, password, name: 'Weak' } })
    assertFieldError(reply, '/password', 'weak_password')
  }
  // Longer than the schema allows at all: refused before hashing.
  assertFieldError(
    await call(node, 'POST', '/api/users', { json: { email, password: 'y'.repeat(2000), name: 'Weak' } }),
    '/password',
  )
  // NUL cannot reach the database at all: refused by validation, for this field as for any other.
  assert.equal(
    assertFieldError(
      await call(node, 'POST', '/api/users', { json: { email, password: '\u0000'.repeat(8), name: 'Weak' } }),
      '/password',
    ).errors![0]!.code,
    'nul_character',
  )
  assert.equal(await usersWithEmail(email), 0)
})

test('malformed JSON is 400, a non-JSON body 415, and wrong types 400/422: never 500, never a partial row', async () => {
  const count = await userCount()
  const post = (body: string, contentType = 'application/json'): Promise<Reply> =>
    call(node, 'POST', '/api/users', { body, headers: { 'content-type': contentType } })

  for (const body of ['{"email":', '{email: "a@b.c"}', '{"email":"a@example.test",}', '', 'nul']) {
    assertProblem(await post(body), 400, 'malformed_json', JSON.stringify(body))
  }
  const valid = JSON.stringify({ email: uniqueEmail('type'), password: PASSWORD, name: 'Typed' })
  assertProblem(await post(valid, 'text/plain'), 415, 'unsupported_media_type')
  assertProblem(
    await post(
      `email=${encodeURIComponent(uniqueEmail())}&password=${PASSWORD}&name=Form`,
      'application/x-www-form-urlencoded',
    ),
    415,
    'unsupported_media_type',
  )
  assertProblem(await post(valid, 'multipart/form-data; boundary=x'), 415, 'unsupported_media_type')

  const good = { email: uniqueEmail('type'), password: PASSWORD, name: 'Typed' }
  const wrong: unknown[] = [
    null,
    [],
    'a string',
    42,
    true,
    { ...good, email: 123 },
    { ...good, email: [good.email] },
    { ...good, email: { $ne: null } },
    { ...good, email: 'not an email' },
    { ...good, email: `${'a'.repeat(250)}@example.test` },
    { ...good, password: 12345678 },
    { ...good, password: null },
    { ...good, password: ['x'] },
    { ...good, name: '' },
    { ...good, name: null },
    { ...good, name: { first: 'A' } },
    { ...good, name: 'n'.repeat(201) },
    { email: good.email, password: good.password },
    { email: good.email, name: good.name },
    {},
    { ...good, tenant: 'NOT A SLUG' },
    { ...good, tenant: 1 },
  ]
  for (const body of wrong) {
    const reply = await call(node, 'POST', '/api/users', { json: body })
    assert.ok([400, 422].includes(reply.status), `${JSON.stringify(body).slice(0, 80)} → ${reply.status} ${reply.text}`)
    assert.match(reply.headers.get('content-type') ?? '', /^application\/problem\+json/)
    assert.ok(['validation_failed', 'malformed_json'].includes((reply.body as { code: string }).code), reply.text)
  }
  assertProblem(
    await call(node, 'GET', '/api/users/not-a-uuid', { token: admin.accessToken }),
    400,
    'invalid_parameters',
  )
  assertProblem(await call(node, 'GET', `/api/users/${randomUUID()}`, { token: admin.accessToken }), 404, 'not_found')
  assert.equal(await userCount(), count, 'no row was written by any refused request')
  assert.equal(await usersWithEmail(good.email), 0)
})

test('a password change needs the current password, ends the other sign-ins and keeps this one', async () => {
  const { user, tokens: current } = await signUp(node)
  const otherSignIn = await login(node, user.email)
  const browser = await cookieLogin(node, user.email)
  const NEW = 'a-brand-new-passphrase-9'
  const hashBefore = (await userRow(node, user.id))!.password_hash
  const patch = (body: Record<string, unknown>) =>
    call<User>(node, 'PATCH', '/api/users/me', { token: current.accessToken, json: body })

  assertFieldError(await patch({ password: NEW }), '/currentPassword')
  assertFieldError(await patch({ password: NEW, currentPassword: 'not-my-password' }), '/currentPassword')
  assertFieldError(await patch({ password: NEW, currentPassword: '' }), '/currentPassword')
  assertFieldError(await patch({ password: 'short', currentPassword: PASSWORD }), '/password', 'weak_password')
  assertFieldError(await patch({ password: 'password123', currentPassword: PASSWORD }), '/password', 'weak_password')
  assert.equal((await userRow(node, user.id))!.password_hash, hashBefore, 'nothing changed')
  assert.equal(
    (await call(node, 'POST', '/api/users/refresh', { json: { refreshToken: otherSignIn.refreshToken } })).status,
    200,
    'and nobody was signed out',
  )
  const otherRefresh = await call<Tokens>(node, 'POST', '/api/users/refresh', {
    json: { refreshToken: otherSignIn.refreshToken },
  })
  assertProblem(otherRefresh, 401, 'invalid_token', 'the token was spent just above')

  // A fresh other sign-in, then the change.
  const second = await login(node, user.email)
  const changed = await patch({ password: NEW, currentPassword: PASSWORD })
  assert.equal(changed.status, 200, changed.text)
  assertNoSecrets(changed.body, 'PATCH /me')
  assert.notEqual((await userRow(node, user.id))!.password_hash, hashBefore)

  assertProblem(
    await call(node, 'POST', '/api/users/refresh', { json: { refreshToken: second.refreshToken } }),
    401,
    'invalid_token',
    'another bearer sign-in is over',
  )
  assertProblem(
    await call(node, 'GET', '/api/users/me', { cookie: browser.secret }),
    401,
    'unauthenticated',
    'the browser session is over',
  )
  const kept = await call<Tokens>(node, 'POST', '/api/users/refresh', { json: { refreshToken: current.refreshToken } })
  assert.equal(kept.status, 200, `the sign-in that changed it lives on: ${kept.text}`)
  assert.equal((await call(node, 'GET', '/api/users/me', { token: kept.body.accessToken })).status, 200)

  assertProblem(await tryLogin(node, user.email, PASSWORD), 401, 'invalid_credentials', 'the old password')
  assert.equal((await tryLogin(node, user.email, NEW)).status, 200, 'the new password')
})

test('no user JSON anywhere carries a password, a hash or a secret', async () => {
  const fresh = await call<User>(node, 'POST', '/api/users', {
    json: { email: uniqueEmail('json'), password: PASSWORD, name: 'Json' },
  })
  assert.equal(fresh.status, 201)
  const replies: Record<string, Reply> = {
    register: fresh,
    login: await tryLogin(node, fresh.body.email, PASSWORD),
    me: await me(customer.tokens),
    updateMe: await call(node, 'PATCH', '/api/users/me', {
      token: customer.tokens.accessToken,
      json: { name: 'Still Me' },
    }),
    listUsers: await call(node, 'GET', '/api/users?limit=100', { token: admin.accessToken }),
    getUser: await call(node, 'GET', `/api/users/${other.id}`, { token: admin.accessToken }),
    setRoles: await call(node, 'PATCH', `/api/users/${other.id}/roles`, {
      token: admin.accessToken,
      json: { roles: ['customer'] },
    }),
    weakPassword: await call(node, 'POST', '/api/users', {
      json: { email: uniqueEmail(), password: 'short', name: 'Weak' },
    }),
  }
  for (const [route, reply] of Object.entries(replies)) {
    assert.ok(reply.status < 500, `${route}: ${reply.text}`)
    if (route === 'login') {
      // Tokens are secrets by design; what matters is that no account data rides along.
      assert.deepEqual(Object.keys(reply.body as object).sort(), [
        'accessToken',
        'expiresIn',
        'refreshToken',
        'tokenType',
      ])
      continue
    }
    if (route === 'weakPassword') {
      assert.doesNotMatch(reply.text, /short/, 'the refused password is not echoed back')
      continue
    }
    assertNoSecrets(reply.body, route)
  }
  assert.ok((replies.listUsers!.body as { items: User[] }).items.length >= 3)
})

test('guessing the current password with a stolen access token is throttled like signing in', async () => {
  const victim = await signUp(node)
  const patch = (currentPassword: string) =>
    call(node, 'PATCH', '/api/users/me', {
      token: victim.tokens.accessToken,
      json: { password: 'a brand new long secret', currentPassword },
    })
  for (let i = 0; i < 5; i++) assertFieldError(await patch(`wrong guess ${i}`), '/currentPassword')
  const locked = await patch(PASSWORD)
  assertProblem(locked, 429, 'too_many_attempts', 'even the right current password waits out the lock')
  assert.ok(Number(locked.headers.get('retry-after')) > 0)
  assert.equal(
    (await tryLogin(node, victim.email, PASSWORD)).status,
    429,
    "the lock is the account's: signing in waits too",
  )
})
