// Two-step sign-in (TOTP): enrolment with the current password shows a QR code of the otpauth://
// URI (a PNG data: URL made by the qrcode package: an image, so no script and no inline SVG
// markup) and the secret for typing in; a current code confirms it and shows the recovery codes
// once. Switching it off takes the current password.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Web } from '../plugin.ts'
import { fieldErrors, noticeOf, type FieldErrors, type Notice } from '../render.ts'

interface Enrolment {
  readonly secret: string
  readonly uri: string
}

const OTPAUTH = /^otpauth:\/\/totp\/[^\s]{1,500}$/

export function registerSecurity(web: Web): void {
  const show = (
    request: FastifyRequest,
    reply: FastifyReply,
    extra: {
      errors?: FieldErrors
      notices?: Notice[]
      enrolment?: Enrolment & { qr: string }
      recoveryCodes?: string[]
    } = {},
  ) =>
    web.render(request, reply, 'account/security', {
      title: 'Security',
      errors: extra.errors ?? {},
      notices: extra.notices ?? [],
      enrolment: extra.enrolment,
      recoveryCodes: extra.recoveryCodes,
    })

  const withQr = async (enrolment: Enrolment) => ({
    ...enrolment,
    // Loaded on the first enrolment, not by every start (some 60 modules for a page few open).
    qr: await (await import('qrcode')).default.toDataURL(enrolment.uri, {
      errorCorrectionLevel: 'M',
      margin: 2,
      width: 240,
    }),
  })

  web.app.get('/account/security', async (request, reply) => {
    if (!web.requireUser(request, reply)) return reply
    return show(request, reply)
  })

  web.app.post<{ Body: { currentPassword?: string } }>('/account/security/mfa', async (request, reply) => {
    if (!web.requireUser(request, reply)) return reply
    const started = await web.api(request)<Enrolment>({
      method: 'POST',
      url: '/api/users/me/mfa/totp',
      body: { currentPassword: request.body.currentPassword ?? '' },
    })
    if (!started.ok) return failed(reply, started)
    return show(request, reply, { enrolment: await withQr(started.data) })

    function failed(r: FastifyReply, result: Extract<typeof started, { ok: false }>) {
      const errors = fieldErrors(result.problem)
      if (result.problem?.code === 'invalid_credentials' || result.problem?.code === 'too_many_attempts')
        errors.currentPassword ??= [result.problem.detail ?? result.problem.title]
      return show(request, r, {
        errors,
        notices: Object.keys(errors).length ? [] : [noticeOf(result, 'Two-step sign-in')],
      })
    }
  })

  web.app.post<{ Body: { code?: string; uri?: string; secret?: string } }>(
    '/account/security/mfa/verify',
    async (request, reply) => {
      if (!web.requireUser(request, reply)) return reply
      const verified = await web.api(request)<{ recoveryCodes: string[] }>({
        method: 'POST',
        url: '/api/users/me/mfa/totp/verify',
        body: { code: (request.body.code ?? '').trim() },
      })
      if (verified.ok)
        return show(request, reply, {
          recoveryCodes: verified.data.recoveryCodes,
          notices: [{ kind: 'success', text: 'Two-step sign-in is on.' }],
        })
      // A wrong code: the same QR again (the enrolment stays open until confirmed).
      const { uri = '', secret = '' } = request.body
      const errors = fieldErrors(verified.problem)
      if (verified.problem?.code === 'invalid_code')
        errors.code ??= [verified.problem.detail ?? 'That code is not right']
      return show(request, reply, {
        errors,
        notices: Object.keys(errors).length ? [] : [noticeOf(verified, 'Two-step sign-in')],
        ...(OTPAUTH.test(uri) ? { enrolment: await withQr({ uri, secret }) } : {}),
      })
    },
  )

  web.app.post<{ Body: { currentPassword?: string } }>('/account/security/mfa/disable', async (request, reply) => {
    if (!web.requireUser(request, reply)) return reply
    const disabled = await web.api(request)({
      method: 'POST',
      url: '/api/users/me/mfa/disable',
      body: { currentPassword: request.body.currentPassword ?? '' },
    })
    if (disabled.ok) return reply.redirect('/account/security?notice=mfa-disabled', 303)
    const errors = fieldErrors(disabled.problem)
    if (disabled.problem?.code === 'invalid_credentials' || disabled.problem?.code === 'too_many_attempts')
      errors.currentPassword ??= [disabled.problem.detail ?? disabled.problem.title]
    return show(request, reply, {
      errors,
      notices: Object.keys(errors).length ? [] : [noticeOf(disabled, 'Two-step sign-in')],
    })
  })
}
