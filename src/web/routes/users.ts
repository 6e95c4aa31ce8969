// Users and roles (administrators): the tenant's users, and a form per user to change their role.
// The identity API decides (admin only, through the route table); this page only shows and asks.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Web } from '../plugin.ts'
import type { User } from '../render.ts'
import { addStaffLink } from '../nav.ts'
import { noticeOf, type Notice } from '../render.ts'

addStaffLink({ href: '/admin/users', label: 'Users', roles: ['admin'] })

const ROLES = ['customer', 'staff', 'admin'] as const

export function registerUsers(web: Web): void {
  const admin = (request: FastifyRequest, reply: FastifyReply): boolean => {
    const user = web.requireUser(request, reply)
    if (!user) return false
    if (web.hasRole(user, 'admin')) return true
    void web.render(request, reply.code(403), 'error', {
      title: 'Administrators only',
      message: 'Users and roles are for administrators.',
    })
    return false
  }

  const page = async (request: FastifyRequest, reply: FastifyReply, notices: Notice[] = []) => {
    const users = await web.api(request)<{ items: (User & { createdAt: string })[] }>({ url: '/api/users?limit=100' })
    return web.render(request, reply, 'back-office/users', {
      title: 'Users and roles',
      users: users.ok ? users.data.items : [],
      roles: ROLES,
      me: request.user?.id,
      notices: [...notices, ...(users.ok ? [] : [noticeOf(users, 'The identity service')])],
    })
  }

  web.app.get('/admin/users', async (request, reply) => {
    if (!admin(request, reply)) return reply
    return page(request, reply)
  })

  web.app.post<{ Params: { id: string }; Body: { role?: string } }>('/admin/users/:id/role', async (request, reply) => {
    if (!admin(request, reply)) return reply
    const changed = await web.api(request)({
      method: 'PATCH',
      url: `/api/users/${encodeURIComponent(request.params.id)}/roles`,
      body: { roles: [request.body.role ?? ''] },
    })
    if (changed.ok) return reply.redirect('/admin/users?notice=role-changed', 303)
    return page(request, reply, [noticeOf(changed, 'Changing the role')])
  })
}
