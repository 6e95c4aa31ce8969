import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as argon2 from '@node-rs/argon2'
import { createPasswordHasher, passwordProblem, PASSWORD_MAX, PASSWORD_MIN, type Argon2Backend } from './passwords.ts'

test('hashes are argon2id with the OWASP parameters and verify only the right password', async () => {
  const hasher = createPasswordHasher()
  const hash = await hasher.hash('correct horse battery staple')
  assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
  assert.notEqual(await hasher.hash('correct horse battery staple'), hash, 'each hash has its own salt')
  assert.equal(await hasher.verify(hash, 'correct horse battery staple'), true)
  assert.equal(await hasher.verify(hash, 'correct horse battery stapl'), false)
  assert.equal(await hasher.verify(hash, 'Correct horse battery staple'), false)
  assert.equal(hasher.pending, 0)
})

test('a malformed hash verifies as false instead of throwing', async () => {
  const hasher = createPasswordHasher()
  for (const bad of [
    '',
    'not a hash',
    '$argon2id$v=19$m=19456,t=2,p=1$',
    '$2b$10$abcdefghijklmnopqrstuv',
    '$argon2id$v=19$m=x,t=2,p=1$c2FsdHNhbHQ$aGFzaA',
  ]) {
    assert.equal(await hasher.verify(bad, 'password'), false, bad)
  }
  assert.equal(hasher.pending, 0, 'a failed verification gives its slot back')
})

test('verifyDummy does argon2 work every time and always says false', async () => {
  const calls: string[] = []
  const hasher = createPasswordHasher({
    backend: {
      hash: (password, options) => (calls.push('hash'), argon2.hash(password, options)),
      verify: (hash, password) => (calls.push(`verify ${hash.slice(0, 31)}`), argon2.verify(hash, password)),
    },
  })
  assert.equal(await hasher.verifyDummy('anything at all'), false)
  assert.equal(await hasher.verifyDummy('mosaic dummy password'), false, "even the dummy's own password")
  assert.equal(await hasher.verifyDummy('something else'), false)
  // The first call makes the dummy (one hash, same cost as one verification); later ones verify against it, made once.
  assert.deepEqual(calls, ['hash', 'verify $argon2id$v=19$m=19456,t=2,p=1$', 'verify $argon2id$v=19$m=19456,t=2,p=1$'])
})

test('no more than `concurrency` argon2 calls run at once, and the rest start in arrival order', async () => {
  let running = 0
  let most = 0
  const started: string[] = []
  // Counts calls into the native library that have not finished yet: what actually holds threads and memory.
  const counted: Argon2Backend = {
    async hash(password, options) {
      started.push(password)
      running++
      most = Math.max(most, running)
      try {
        return await argon2.hash(password, options)
      } finally {
        running--
      }
    },
    verify: argon2.verify,
  }
  const hasher = createPasswordHasher({ concurrency: 2, backend: counted })
  const passwords = Array.from({ length: 8 }, (_, i) => `password number ${i}`)
  const hashes = Promise.all(passwords.map((p) => hasher.hash(p)))
  assert.equal(hasher.pending, 8)
  assert.equal(running, 2, 'two start straight away')
  const samples: number[] = []
  const sampler = setInterval(() => samples.push(hasher.pending), 1)
  const done = await hashes
  clearInterval(sampler)
  assert.equal(most, 2, 'never more than two at once, and the two slots were both used')
  assert.deepEqual(started, passwords)
  assert.equal(hasher.pending, 0)
  assert.deepEqual(
    samples,
    [...samples].sort((a, b) => b - a),
    'pending only goes down',
  )
  for (const [i, hash] of done.entries()) assert.equal(await argon2.verify(hash, passwords[i]), true)
})

test('a failing hash releases its slot for the next in line', async () => {
  const hasher = createPasswordHasher({
    concurrency: 1,
    backend: {
      hash: async (password) => {
        if (password === 'boom') throw new Error('boom')
        return 'ok'
      },
      verify: async () => true,
    },
  })
  const results = await Promise.allSettled([hasher.hash('boom'), hasher.hash('fine'), hasher.hash('also fine')])
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'fulfilled', 'fulfilled'],
  )
  assert.equal(hasher.pending, 0)
})

test('concurrency must be a positive integer', () => {
  for (const concurrency of [0, -1, 1.5, NaN])
    assert.throws(() => createPasswordHasher({ concurrency }), RangeError, String(concurrency))
})

test('length is 8 to 128 characters, counted in code points', () => {
  assert.equal(PASSWORD_MIN, 8)
  assert.equal(PASSWORD_MAX, 128)
  assert.equal(passwordProblem('vk3#pq9'), 'must be at least 8 characters')
  assert.equal(passwordProblem('vk3#pq9z'), undefined)
  assert.equal(passwordProblem('x'.repeat(128)), undefined)
  assert.equal(passwordProblem('x'.repeat(129)), 'must be at most 128 characters')
  assert.equal(passwordProblem(''), 'must be at least 8 characters')
  // Seven emoji are 14 UTF-16 units but 7 characters; 128 of them are 256 units and still fine.
  assert.equal(passwordProblem('🔑🐙🌵🎲🚲🧀🪐'), 'must be at least 8 characters')
  assert.equal(passwordProblem('🔑🐙🌵🎲🚲🧀🪐🦉'), undefined)
  assert.equal(passwordProblem('🔑'.repeat(128)), undefined)
  assert.equal(passwordProblem('🔑'.repeat(129)), 'must be at most 128 characters')
  assert.equal(passwordProblem('éèêëàâäô'), undefined)
})

test('common passwords are refused whatever their case', () => {
  for (const common of [
    'password',
    'PASSWORD',
    'Password1',
    'password123',
    '12345678',
    '123456789',
    'qwertyuiop',
    'iloveyou',
    'Sunshine1',
    'football',
    'baseball',
    'trustNo1',
    '1q2w3e4r',
  ]) {
    assert.equal(passwordProblem(common), 'is too common', common)
  }
  assert.equal(passwordProblem('password is long enough but not in the list'), undefined)
})

test('the email and its local part are refused', () => {
  const context = { email: 'Ada.Lovelace@example.com' }
  assert.equal(passwordProblem('ada.lovelace@example.com', context), 'must not be your email')
  assert.equal(passwordProblem('ADA.LOVELACE', context), 'must not be your email')
  assert.equal(passwordProblem('ada.lovelace', context), 'must not be your email')
  assert.equal(passwordProblem('ada.lovelace!', context), undefined)
  assert.equal(passwordProblem('ada.lovelace', {}), undefined)
  assert.equal(passwordProblem('ada.lovelace', { email: 'someone.else@example.com' }), undefined)
})

test('the policy applies to the normalised password: no control characters, not only spaces', () => {
  assert.equal(passwordProblem(' '.repeat(8)), 'must not be only spaces')
  assert.equal(
    passwordProblem('\u3000'.repeat(8)),
    'must not be only spaces',
    'ideographic spaces are spaces after NFKC',
  )
  assert.equal(passwordProblem('\u0000'.repeat(8)), 'must not contain control characters')
  assert.equal(passwordProblem('tab\there-long'), 'must not contain control characters')
  assert.equal(passwordProblem('line\nbreak-long'), 'must not contain control characters')
  assert.equal(passwordProblem('correct horse battery'), undefined, 'spaces inside a passphrase are fine')
  // NFKC turns the full-width 'ｐａｓｓｗｏｒｄ' into a common password, and 'ﬃ' (one character) into 'ffi' (three).
  assert.equal(passwordProblem('ｐａｓｓｗｏｒｄ'), 'is too common')
  assert.equal(passwordProblem('ﬃﬃ12'), undefined, 'eight characters once normalised')
})

test('a password verifies in any Unicode form of the same characters', async () => {
  const hasher = createPasswordHasher()
  const composed = 'café crème brûlée'
  const hash = await hasher.hash(composed)
  assert.equal(await hasher.verify(hash, composed.normalize('NFD')), true)
  assert.equal(await hasher.verify(hash, 'cafe creme brulee'), false)
})
