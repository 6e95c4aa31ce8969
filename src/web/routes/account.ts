// The account: orders (live status, cancel), invoices, payments, notification preferences, MFA.
import type { Web } from '../plugin.ts'

export function registerAccount(web: Web): void {
  web.app.get('/account', async (request, reply) => {
    const user = web.requireUser(request, reply)
    if (!user) return reply
    return web.render(request, reply, 'account/overview', { title: 'Your account' })
  })
}
