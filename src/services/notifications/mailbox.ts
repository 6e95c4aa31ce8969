// The development mailbox page: the mails kept for a tenant when no SMTP server is configured,
// newest first. Each mail's HTML part is shown as source (escaped), never rendered: the page
// must not run or load anything a mail contains (the gateway's CSP forbids it anyway).
import type { Sql } from '../../kit/index.ts'
import { html } from '../../kit/index.ts'

interface MailRow {
  notification_id: string
  recipient: string
  subject: string
  text_body: string
  html_body: string
  raw: string
  delivered_at: Date
}

export async function mailboxPage(db: Sql, tenantId: string, limit: number, transport: string): Promise<string> {
  const rows = await db.query<MailRow>(
    `select notification_id, recipient, subject, text_body, html_body, raw, delivered_at from mailbox
     where tenant_id = $1 order by delivered_at desc, notification_id limit $2`,
    [tenantId, limit],
  )
  const note =
    transport === 'mailbox'
      ? html`<p>No SMTP server is configured (<code>SMTP_HOST</code>): mails are kept here instead of being sent.</p>`
      : html`<p>Mails go to ${transport}; this mailbox holds only those kept before SMTP was configured.</p>`
  const mails = rows.map(
    (m) => html`<article data-notification="${m.notification_id}">
<h2>${m.subject}</h2>
<p>To <strong class="to">${m.recipient}</strong>, ${m.delivered_at.toISOString()}</p>
<h3>Text</h3><pre class="text">${m.text_body}</pre>
<details><summary>HTML source</summary><pre class="html">${m.html_body}</pre></details>
<details><summary>Raw message</summary><pre class="raw">${m.raw}</pre></details>
</article><hr>`,
  )
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mosaic mailbox (${tenantId})</title></head>
<body><h1>Mailbox of tenant ${tenantId}</h1>${note}<p>${rows.length} mail(s), newest first.</p><hr>
${mails}</body></html>`.value
}
