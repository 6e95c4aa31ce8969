// Access-token signing keys: Ed25519 (EdDSA), one active at a time. Rotation adds a key and
// retires the old one, which stays published for the token lifetime (plus clock skew) so tokens
// it signed keep verifying until they expire; after that it is gone from the JWKS.
import { randomUUID } from 'node:crypto'
import { generateKeyPair, exportJWK, importJWK, SignJWT, type JWK } from 'jose'
import type { Sql, Identity } from '../../kit/index.ts'

export const ALG = 'EdDSA'
/** RFC 9068's type for JWT access tokens: a token of another kind can never pass as one. */
export const ACCESS_TOKEN_TYPE = 'at+jwt'

export interface TokenSettings {
  readonly issuer: string
  readonly audience: string
  readonly ttlSeconds: number
  /** How long a retired key stays published: the token lifetime plus the clock skew allowed. */
  readonly retentionSeconds: number
}

interface KeyRow {
  kid: string
  public_jwk: JWK
  private_jwk: JWK
  created_at: Date
}

async function createKey(tx: Sql): Promise<KeyRow> {
  const { publicKey, privateKey } = await generateKeyPair(ALG, { crv: 'Ed25519', extractable: true })
  const kid = randomUUID()
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' }
  const [row] = await tx.query<KeyRow>(
    'insert into signing_keys (kid, alg, public_jwk, private_jwk) values ($1, $2, $3, $4) returning kid, public_jwk, private_jwk, created_at',
    [kid, ALG, publicJwk, await exportJWK(privateKey)],
  )
  return row!
}

/**
 * Makes a new key the active one if there is none, or if `olderThanDays` is given and the
 * active key is older. Serialised by an advisory lock, so replicas rotating at once make one key.
 * Returns the new key's id, or undefined when nothing changed.
 */
export async function rotateKey(
  tx: Sql,
  options: { force?: boolean; olderThanDays?: number } = {},
): Promise<string | undefined> {
  await tx.query("select pg_advisory_xact_lock(hashtext('mosaic.identity.signing_keys'))")
  const [active] = await tx.query<{ kid: string; age_days: number }>(
    'select kid, extract(epoch from now() - created_at) / 86400 as age_days from signing_keys where retired_at is null order by created_at desc limit 1',
  )
  const due =
    !active ||
    options.force ||
    (options.olderThanDays !== undefined && Number(active.age_days) >= options.olderThanDays)
  if (!due) return undefined
  await tx.query('update signing_keys set retired_at = now() where retired_at is null')
  return (await createKey(tx)).kid
}

/** The keys a verifier should accept now: the active one and those retired within the retention. */
export async function publishedKeys(db: Sql, retentionSeconds: number): Promise<JWK[]> {
  const rows = await db.query<{ public_jwk: JWK }>(
    'select public_jwk from signing_keys where retired_at is null or retired_at > now() - make_interval(secs => $1) order by created_at desc',
    [retentionSeconds],
  )
  return rows.map((r) => r.public_jwk)
}

const imported = new Map<string, Awaited<ReturnType<typeof importJWK>>>()

/** Signs an access token for `identity` with the active key. */
export async function signAccessToken(db: Sql, identity: Identity, settings: TokenSettings): Promise<string> {
  const [key] = await db.query<KeyRow>(
    'select kid, private_jwk from signing_keys where retired_at is null order by created_at desc limit 1',
  )
  if (!key) throw new Error('no active signing key')
  let privateKey = imported.get(key.kid)
  if (!privateKey) imported.set(key.kid, (privateKey = await importJWK(key.private_jwk, ALG)))
  return new SignJWT({
    tenant: identity.tenantId,
    roles: identity.roles,
    ...(identity.sessionId ? { sid: identity.sessionId } : {}),
  })
    .setProtectedHeader({ alg: ALG, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .setSubject(identity.userId)
    .setIssuedAt()
    .setExpirationTime(`${settings.ttlSeconds}s`)
    .sign(privateKey)
}
