// Registering, signing in (with a one-time code when MFA is on) and out: the identity service's
// browser session (its cookie, set by the API) and its CSRF token, which becomes the token our
// forms carry from then on.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Web } from '../plugin.ts'
import type { ApiResult } from '../api.ts'
import { newCsrfToken, setCart, setCsrf } from '../cookies.ts'
import { fieldErrors, noticeOf } from '../render.ts'

interface Credentials {
  email?: string
  password?: string
  name?: string
  totp?: string
  next?: string
}

/** Only a path of this site, so a link cannot send a user elsewhere after signing in. */
const localPath = (next: unknown): string => (typeof next === 'string' && /^\/(?![/\\])/.test(next) ? next : '/account')

export function registerSignIn(web: Web): void {
  web.app.get<{ Querystring: { next?: string } }>('/sign-in', async (request, reply) =>
    web.render(request, reply, 'account/sign-in', {
      title: 'Sign in',
      next: localPath(request.query.next),
      values: {},
      errors: {},
    }),
  )

  web.app.post<{ Body: Credentials }>('/sign-in', async (request, reply) => {
    const { email = '', password = '', totp = '' } = request.body
    const next = localPath(request.body.next)
    return signIn(web, request, reply, { email, password, ...(totp ? { totp } : {}) }, next, (problem) => {
      const errors = fieldErrors(problem.problem)
      const needsCode = problem.problem?.code === 'mfa_required' || problem.problem?.code === 'invalid_code'
      return web.render(request, reply, 'account/sign-in', {
        title: 'Sign in',
        next,
        values: { email },
        errors,
        needsCode,
        notices: [
          problem.unavailable
            ? noticeOf(problem, 'Signing in')
            : { kind: 'error', text: problem.problem?.detail ?? problem.problem?.title ?? 'Sign-in failed' },
        ],
      })
    })
  })

  web.app.get('/register', async (request, reply) =>
    web.render(request, reply, 'account/register', { title: 'Create an account', values: {}, errors: {} }),
  )

  web.app.post<{ Body: Credentials }>('/register', async (request, reply) => {
    const { email = '', password = '', name = '' } = request.body
    const created = await web.api(request)({ method: 'POST', url: '/api/users', body: { email, password, name } })
    if (!created.ok) {
      const errors = fieldErrors(created.problem)
      if (created.problem?.code === 'weak_password') errors.password ??= [created.problem.detail ?? 'too weak']
      return web.render(request, reply, 'account/register', {
        title: 'Create an account',
        values: { email, name },
        errors,
        notices: [
          created.unavailable
            ? noticeOf(created, 'Registration')
            : { kind: 'error', text: 'Please correct the fields below.' },
        ],
      })
    }
    // The API answers the same whether or not the address was taken: signing in tells.
    return signIn(web, request, reply, { email, password }, '/account?notice=registered', (problem) =>
      reply.redirect(`/sign-in?notice=${problem.unavailable ? '' : 'registered'}`, 303),
    )
  })

  web.app.post('/sign-out', async (request, reply) => {
    await web.api(request, reply)({ method: 'POST', url: '/api/users/logout' })
    setCsrf(reply, web.cookies, newCsrfToken())
    setCart(reply, web.cookies, []) // a shared computer's next user starts with an empty cart
    return reply.redirect('/?notice=signed-out', 303)
  })
}

type Failure = Extract<ApiResult<unknown>, { ok: false }>

/**
 * Signs in with a browser session: the API sets the session cookie (passed on), and its CSRF
 * token replaces the visitor's. The cart cookie is left as it is: the visitor's cart is now the
 * account's.
 */
async function signIn(
  web: Web,
  request: FastifyRequest,
  reply: FastifyReply,
  body: Record<string, string>,
  next: string,
  onFailure: (failure: Failure) => unknown,
): Promise<unknown> {
  const result = await web.api(
    request,
    reply,
  )<{ csrfToken: string }>({
    method: 'POST',
    url: '/api/users/login?session=cookie',
    body,
  })
  if (!result.ok) return onFailure(result)
  setCsrf(reply, web.cookies, result.data.csrfToken)
  return reply.redirect(next, 303)
}
