// CSV (RFC 4180) for the reports. Text cells that a spreadsheet would run as a formula (starting
// with = + - @, or a tab or carriage return that hides one) are defused with a leading apostrophe,
// as OWASP advises; numbers are written as numbers.
export type Cell = string | number | null

const FORMULA = /^[=+\-@\t\r]/

function cell(value: Cell): string {
  if (value === null) return ''
  let text = String(value)
  if (typeof value === 'string' && FORMULA.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return [header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n') + '\r\n'
}

/** True when the client asked for CSV (Accept: text/csv) rather than JSON. */
export function wantsCsv(accept: string | string[] | undefined): boolean {
  const types = (Array.isArray(accept) ? accept.join(',') : (accept ?? '')).split(',')
  return types.some((t) => {
    const [type, ...params] = t.split(';').map((p) => p.trim().toLowerCase())
    return type === 'text/csv' && !params.some((p) => /^q=0(\.0*)?$/.test(p))
  })
}
