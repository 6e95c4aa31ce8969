// HTML with every interpolated value escaped unless it is itself HTML built here: a template
// cannot forget to escape a variable, because escaping is what interpolation does.

const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Text made safe for element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => entities[c]!)
}

/**
 * Whether a route that answers as JSON or as an HTML page answers with the page: `?format=` decides,
 * then an Accept header that names one of the two and not the other, then the route's own default.
 */
export function wantsHtml(format: 'json' | 'html' | undefined, accept: unknown, byDefault: 'json' | 'html'): boolean {
  if (format !== undefined) return format === 'html'
  if (typeof accept === 'string') {
    const page = /\btext\/html\b/.test(accept)
    if (page !== /\bapplication\/json\b/.test(accept)) return page
  }
  return byDefault === 'html'
}

/** Markup that is already safe: the output of `html`, never a raw string from outside. */
export class SafeHtml {
  readonly value: string
  constructor(value: string) {
    this.value = value
  }
  toString(): string {
    return this.value
  }
}

type Part = SafeHtml | string | number | bigint | readonly Part[] | null | undefined

function render(part: Part): string {
  if (part === null || part === undefined) return ''
  if (part instanceof SafeHtml) return part.value
  if (Array.isArray(part)) return part.map(render).join('')
  return escapeHtml(part)
}

/** html`<p>Hello ${name}</p>`: `name` is escaped; nested html`` fragments and arrays of them are kept. */
export function html(strings: TemplateStringsArray, ...values: Part[]): SafeHtml {
  return new SafeHtml(strings.reduce((out, text, i) => out + text + (i < values.length ? render(values[i]) : ''), ''))
}
