// Which kinds a user receives: stored as the kinds turned off, so a new kind is on by default.
import { MosaicError, type Sql, type Static } from '../../kit/index.ts'
import type { Preferences } from './contract.ts'
import { optional } from './record.ts'

type PreferencesOut = Static<typeof Preferences>
export interface PreferencesPatch {
  receipt?: boolean
  cancellation?: boolean
  refund?: boolean
  security?: boolean
}

function toPreferences(disabled: readonly string[]): PreferencesOut {
  return {
    receipt: !disabled.includes('receipt'),
    cancellation: !disabled.includes('cancellation'),
    refund: !disabled.includes('refund'),
    security: true,
  }
}

export async function getPreferences(db: Sql, tenantId: string, userId: string): Promise<PreferencesOut> {
  const [row] = await db.query<{ disabled: string[] }>(
    'select disabled from preferences where user_id = $1 and tenant_id = $2',
    [userId, tenantId],
  )
  return toPreferences(row?.disabled ?? [])
}

export async function updatePreferences(
  db: Sql,
  tenantId: string,
  userId: string,
  patch: PreferencesPatch,
): Promise<PreferencesOut> {
  if (patch.security === false) {
    throw new MosaicError('validation_failed', {
      issues: [{ path: '/security', code: 'required_on', message: 'security notices cannot be turned off' }],
    })
  }
  const off = optional.filter((kind) => patch[kind] === false)
  const on = optional.filter((kind) => patch[kind] === true)
  // One statement: concurrent changes of different kinds both land.
  const [row] = await db.query<{ disabled: string[] }>(
    `insert into preferences (user_id, tenant_id, disabled) values ($1, $2, $3::text[])
     on conflict (user_id) do update set
       disabled = array(select distinct k from unnest(preferences.disabled || $3::text[]) as k where k <> all($4::text[]) order by k),
       updated_at = now()
     returning disabled`,
    [userId, tenantId, off, on],
  )
  return toPreferences(row!.disabled)
}
