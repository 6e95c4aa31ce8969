// The mails, each as a subject, a plain-text part and an HTML part. Values from events and
// recipients reach the HTML only through html`` (escaped); amounts are converted to exact minor
// units first and only formatted for display.
import { toMinor, toDecimal, type Static } from '../../kit/index.ts'
import type { identityContract } from '../identity/contract.ts'
import type { ordersContract } from '../orders/contract.ts'
import type { paymentsContract } from '../payments/contract.ts'
import { html, type SafeHtml } from '../../kit/index.ts'

export type Registered = Static<(typeof identityContract.events)['user.registered']>
export type Locked = Static<(typeof identityContract.events)['user.locked']>
export type RecoveryCodeUsed = Static<(typeof identityContract.events)['user.recovery_code_used']>
export type Confirmed = Static<(typeof ordersContract.events)['order.confirmed']>
export type Cancelled = Static<(typeof ordersContract.events)['order.cancelled']>
export type Refunded = Static<(typeof paymentsContract.events)['payment.refunded']>

export interface Recipient {
  readonly email: string
  readonly name: string
}
export interface Mail {
  readonly subject: string
  readonly text: string
  readonly html: string
}
/** A refund that belongs with a cancellation notice: the amount given back. */
export interface RefundInfo {
  readonly amount: number
  readonly currency: string
}

/** 29.99 USD → "$29.99", exactly: the amount goes through minor units and a decimal string, never float arithmetic. */
export function money(minor: bigint, currency: string): string {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).format(toDecimal(minor, currency) as `${number}`)
}
const amount = (value: number, currency: string): string => money(toMinor(value, currency, '/amount'), currency)

function page(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body style="font-family:sans-serif;line-height:1.4;color:#222">${body}
<p style="color:#777;font-size:small">Mosaic</p></body></html>`.value
}

function mail(subject: string, text: string[], body: SafeHtml): Mail {
  return { subject, text: `${text.join('\n')}\n\n-- \nMosaic\n`, html: page(subject, body) }
}

export function welcome(to: Recipient): Mail {
  return mail(
    'Welcome to Mosaic',
    [`Hello ${to.name},`, '', `Your account ${to.email} is ready. Sign in any time to shop and follow your orders.`],
    html`<p>Hello ${to.name},</p><p>Your account <strong>${to.email}</strong> is ready. Sign in any time to shop and follow your orders.</p>`,
  )
}

export function receipt(to: Recipient, order: Confirmed): Mail {
  const lines = order.items.map((item) => {
    const unit = toMinor(item.unitPrice, item.currency, '/unitPrice')
    return { ...item, unit: money(unit, item.currency), line: money(unit * BigInt(item.quantity), item.currency) }
  })
  const total = amount(order.total, order.currency)
  return mail(
    `Your receipt for order ${order.orderId}`,
    [
      `Hello ${to.name},`,
      '',
      `Thank you for your order ${order.orderId}. We have received your payment.`,
      '',
      ...lines.map((l) => `${l.quantity} × ${l.name} (${l.productId}) at ${l.unit}: ${l.line}`),
      '',
      `Total: ${total}`,
      `Payment: ${order.paymentId}`,
    ],
    html`<p>Hello ${to.name},</p><p>Thank you for your order <strong>${order.orderId}</strong>. We have received your payment.</p>
<table cellpadding="4" style="border-collapse:collapse">
<thead><tr><th align="left">Item</th><th align="right">Quantity</th><th align="right">Price</th><th align="right">Amount</th></tr></thead>
<tbody>${lines.map((l) => html`<tr><td>${l.name}</td><td align="right">${l.quantity}</td><td align="right">${l.unit}</td><td align="right">${l.line}</td></tr>`)}</tbody>
<tfoot><tr><th align="left" colspan="3">Total</th><th align="right">${total}</th></tr></tfoot>
</table><p>Payment: ${order.paymentId}</p>`,
  )
}

const reasons: Record<Cancelled['reason'], string> = {
  out_of_stock: 'some of the items are out of stock',
  payment_declined: 'the payment was declined',
  timeout: 'the order could not be completed in time',
  cancelled_by_customer: 'you cancelled it',
}

/** With `refund`, the notice also tells the amount given back (one mail for a cancelled and refunded order). */
export function cancellation(to: Recipient, order: Cancelled, refund?: RefundInfo): Mail {
  const why = reasons[order.reason]
  const given = refund ? amount(refund.amount, refund.currency) : undefined
  const refundText = !order.refunded
    ? []
    : given
      ? [`We have refunded ${given} to your payment method.`]
      : ['We have refunded your payment in full.']
  return mail(
    `Your order ${order.orderId} was cancelled`,
    [
      `Hello ${to.name},`,
      '',
      `Your order ${order.orderId} was cancelled: ${why}.`,
      ...(order.detail ? [`Details: ${order.detail}`] : []),
      ...refundText,
    ],
    html`<p>Hello ${to.name},</p><p>Your order <strong>${order.orderId}</strong> was cancelled: ${why}.</p>
${order.detail ? html`<p>Details: ${order.detail}</p>` : null}${refundText.map((t) => html`<p>${t}</p>`)}`,
  )
}

export function refund(to: Recipient, payment: Refunded): Mail {
  const given = amount(payment.amount, payment.currency)
  const total = amount(payment.refunded, payment.currency)
  const so = payment.refunded !== payment.amount ? [`Refunded for this order so far: ${total}.`] : []
  return mail(
    `Refund of ${given} for order ${payment.orderId}`,
    [
      `Hello ${to.name},`,
      '',
      `We have refunded ${given} for order ${payment.orderId} to your payment method (refund ${payment.refundId}).`,
      ...so,
      'It can take a few days to appear on your statement.',
    ],
    html`<p>Hello ${to.name},</p><p>We have refunded <strong>${given}</strong> for order <strong>${payment.orderId}</strong> to your payment method (refund ${payment.refundId}).</p>
${so.map((t) => html`<p>${t}</p>`)}<p>It can take a few days to appear on your statement.</p>`,
  )
}

/** Someone registered with this email again: the owner hears of it; the one registering did not. */
export function accountExists(to: Recipient): Mail {
  return mail(
    'Someone tried to register your email at Mosaic',
    [
      `Hello ${to.name},`,
      '',
      `Someone tried to create a new account with ${to.email}, which already has one: nothing was changed.`,
      'If it was you, sign in with your existing password. If not, you need do nothing.',
    ],
    html`<p>Hello ${to.name},</p><p>Someone tried to create a new account with <strong>${to.email}</strong>, which already has one: nothing was changed.</p>
<p>If it was you, sign in with your existing password. If not, you need do nothing.</p>`,
  )
}

export function security(to: Recipient, lock: Locked): Mail {
  const until = new Date(lock.until).toUTCString()
  return mail(
    'Your Mosaic account was locked',
    [
      `Hello ${to.name},`,
      '',
      `After several failed sign-in attempts, your account ${to.email} is locked until ${until}.`,
      'If this was not you, someone may be guessing your password: choose a new, unique one when you next sign in.',
    ],
    html`<p>Hello ${to.name},</p><p>After several failed sign-in attempts, your account <strong>${to.email}</strong> is locked until ${until}.</p>
<p>If this was not you, someone may be guessing your password: choose a new, unique one when you next sign in.</p>`,
  )
}

export function recoveryCodeUsed(to: Recipient, use: RecoveryCodeUsed): Mail {
  return mail(
    'A recovery code was used on your Mosaic account',
    [
      `Hello ${to.name},`,
      '',
      `One of the recovery codes of ${to.email} was just used in place of a one-time code. ${use.remaining} unused codes remain.`,
      'If this was not you, someone knows your password and has one of your codes: change your password and switch two-factor sign-in off and on again for new codes.',
    ],
    html`<p>Hello ${to.name},</p><p>One of the recovery codes of <strong>${to.email}</strong> was just used in place of a one-time code. ${use.remaining} unused codes remain.</p>
<p>If this was not you, someone knows your password and has one of your codes: change your password and switch two-factor sign-in off and on again for new codes.</p>`,
  )
}

export function mfaDisabled(to: Recipient): Mail {
  return mail(
    'Two-factor sign-in was switched off on your Mosaic account',
    [
      `Hello ${to.name},`,
      '',
      `Two-factor sign-in (one-time codes) was switched off for ${to.email}: a password alone now signs in.`,
      'If this was not you, change your password at once and switch it on again.',
    ],
    html`<p>Hello ${to.name},</p><p>Two-factor sign-in (one-time codes) was switched off for <strong>${to.email}</strong>: a password alone now signs in.</p>
<p>If this was not you, change your password at once and switch it on again.</p>`,
  )
}

/** The security notice for an identity event (these cannot be turned off). */
export function securityNotice(eventType: string, to: Recipient, data: unknown): Mail {
  switch (eventType) {
    case 'user.registration_repeated':
      return accountExists(to)
    case 'user.recovery_code_used':
      return recoveryCodeUsed(to, data as RecoveryCodeUsed)
    case 'user.mfa_disabled':
      return mfaDisabled(to)
    default:
      return security(to, data as Locked)
  }
}
