// The development mailbox: the mails kept for a tenant when no SMTP server is configured, newest
// first, as data (the web back office shows them in its layout) or as a page of its own. The page
// shows each mail's HTML part as source (escaped), never rendered: it must not run or load anything
// a mail contains (the gateway's CSP forbids it anyway).
import type { Static } from 'typebox'
import type { Sql } from '../../kit/index.ts'
import { html } from '../../kit/index.ts'
import type { Mailbox } from './contract.ts'

interface MailRow {
  notification_id: string
  recipient: string
  subject: string
  text_body: string
  html_body: string
  raw: string
  delivered_at: Date
}

export async function keptMails(
  db: Sql,
  tenantId: string,
  limit: number,
  destination: string,
): Promise<Static<typeof Mailbox>> {
  const rows = await db.query<MailRow>(
    `select notification_id, recipient, subject, text_body, html_body, raw, delivered_at from mailbox
     where tenant_id = $1 order by delivered_at desc, notification_id limit $2`,
    [tenantId, limit],
  )
  return {
    destination,
    items: rows.map((m) => ({
      notificationId: m.notification_id,
      recipient: m.recipient,
      subject: m.subject,
      text: m.text_body,
      html: m.html_body,
      raw: m.raw,
      deliveredAt: m.delivered_at.toISOString(),
    })),
  }
}

export function mailboxPage(mailbox: Static<typeof Mailbox>, tenantId: string): string {
  const note =
    mailbox.destination === 'mailbox'
      ? html`<p>No SMTP server is configured (<code>SMTP_HOST</code>): mails are kept here instead of being sent.</p>`
      : html`<p>Mails go to ${mailbox.destination}; this mailbox holds only those kept before SMTP was configured.</p>`
  const mails = mailbox.items.map(
    (m) => html`<article data-notification="${m.notificationId}">
<h2>${m.subject}</h2>
<p>To <strong class="to">${m.recipient}</strong>, ${m.deliveredAt}</p>
<h3>Text</h3><pre class="text">${m.text}</pre>
<details><summary>HTML source</summary><pre class="html">${m.html}</pre></details>
<details><summary>Raw message</summary><pre class="raw">${m.raw}</pre></details>
</article><hr>`,
  )
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mosaic mailbox (${tenantId})</title></head>
<body><h1>Mailbox of tenant ${tenantId}</h1>${note}<p>${mailbox.items.length} mail(s), newest first.</p><hr>
${mails}</body></html>`.value
}
