// A real SMTP server inside the test process (smtp-server on port 0) that keeps what it receives
// and can be told to go away, to answer 421 for a while, or to refuse some recipients with 550.
import { SMTPServer, type SMTPServerOptions } from 'smtp-server'
import type { AddressInfo } from 'node:net'

export const SMTP_USER = 'mosaic'
export const SMTP_PASS = 'smtp-test-password'

export interface Received {
  /** Whether the session had been upgraded to TLS (STARTTLS) or began in it. */
  secure: boolean
  from: string
  to: string[]
  raw: string
  headers: Map<string, string>
  subject: string
  messageId: string
  text: string
  html: string
}

type Mode = 'ok' | 'busy'

export interface TestSmtp {
  readonly port: number
  readonly received: Received[]
  /** 'busy': every MAIL FROM is answered 421 (service not available, try later). */
  mode: Mode
  /** Addresses refused at RCPT TO: with 550 (permanent), or 450 (temporary). */
  readonly refuse: Map<string, 550 | 450>
  /** Stops listening (connections are refused) until `start()`. */
  stop(): Promise<void>
  start(): Promise<void>
  byRecipient(address: string): Received[]
}

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code })
}

export async function startSmtp(extra: Partial<SMTPServerOptions> = {}): Promise<TestSmtp> {
  const received: Received[] = []
  const refuse = new Map<string, 550 | 450>()
  const state = { mode: 'ok' as Mode }
  const make = () =>
    new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      logger: false,
      onAuth(auth, _session, callback) {
        if (auth.username === SMTP_USER && auth.password === SMTP_PASS) callback(null, { user: auth.username })
        else callback(smtpError(535, 'Authentication failed'))
      },
      onMailFrom(_address, _session, callback) {
        callback(state.mode === 'busy' ? smtpError(421, 'Service not available, try again later') : null)
      },
      onRcptTo(address, _session, callback) {
        const code = refuse.get(address.address)
        callback(code ? smtpError(code, code === 550 ? 'No such user here' : 'Mailbox busy') : null)
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = []
        stream.on('data', (c: Buffer) => chunks.push(c))
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8')
          received.push({
            ...parseMessage(raw),
            secure: session.secure,
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
          })
          callback()
        })
      },
      ...extra,
    })
  let server = make()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.server.address() as AddressInfo).port
  let listening = true
  return {
    port,
    received,
    refuse,
    get mode() {
      return state.mode
    },
    set mode(mode: Mode) {
      state.mode = mode
    },
    async stop() {
      if (!listening) return
      listening = false
      await new Promise<void>((resolve) => server.close(resolve))
    },
    async start() {
      if (listening) return
      server = make()
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
      listening = true
    },
    byRecipient: (address) => received.filter((m) => m.to.includes(address)),
  }
}

/** Just enough MIME for what nodemailer writes: headers, multipart/alternative, quoted-printable and base64. */
export function parseMessage(raw: string): Omit<Received, 'from' | 'to' | 'secure'> {
  const { headers, body } = splitEntity(raw)
  const type = headers.get('content-type') ?? ''
  let text = ''
  let html = ''
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1]
  if (boundary) {
    for (const chunk of body.split(`--${boundary}`).slice(1)) {
      if (chunk.startsWith('--')) break
      const part = splitEntity(chunk.replace(/^\r?\n/, ''))
      const content = decode(part.body, part.headers.get('content-transfer-encoding'))
      if (/^text\/plain/i.test(part.headers.get('content-type') ?? '')) text = content
      if (/^text\/html/i.test(part.headers.get('content-type') ?? '')) html = content
    }
  } else text = decode(body, headers.get('content-transfer-encoding'))
  return {
    raw,
    headers,
    subject: decodeWords(headers.get('subject') ?? ''),
    messageId: headers.get('message-id') ?? '',
    text,
    html,
  }
}

function splitEntity(raw: string): { headers: Map<string, string>; body: string } {
  const match = /\r?\n\r?\n/.exec(raw)
  const head = match ? raw.slice(0, match.index) : raw
  const body = match ? raw.slice(match.index + match[0].length) : ''
  const headers = new Map<string, string>()
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
  }
  return { headers, body }
}

/** RFC 2047 encoded words (=?UTF-8?Q?...?= and =?UTF-8?B?...?=); whitespace between two of them is dropped. */
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([QB])\?([^?]*)\?=/gi, (_all, _charset: string, kind: string, text: string) =>
      kind.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : decode(text.replace(/_/g, ' '), 'quoted-printable'),
    )
}

function decode(body: string, encoding = '7bit'): string {
  const trimmed = body.replace(/\r?\n$/, '')
  if (/quoted-printable/i.test(encoding)) {
    const bytes = trimmed.replace(/=\r?\n/g, '').replace(/\r\n/g, '\n')
    const out: number[] = []
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === '=' && /^[0-9A-F]{2}$/i.test(bytes.slice(i + 1, i + 3))) {
        out.push(parseInt(bytes.slice(i + 1, i + 3), 16))
        i += 2
      } else out.push(...Buffer.from(bytes[i]!, 'utf8'))
    }
    return Buffer.from(out).toString('utf8')
  }
  if (/base64/i.test(encoding)) return Buffer.from(trimmed.replace(/\s+/g, ''), 'base64').toString('utf8')
  return trimmed.replace(/\r\n/g, '\n')
}
