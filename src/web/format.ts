// How pages show money and times: Intl formatters, one per currency, made once.
const formatters = new Map<string, Intl.NumberFormat>()

export function money(amount: number, currency: string): string {
  let format = formatters.get(currency)
  if (!format) {
    format = new Intl.NumberFormat('en', { style: 'currency', currency })
    formatters.set(currency, format)
  }
  return format.format(amount)
}

const dates = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })

export const dateTime = (iso: string): string => `${dates.format(new Date(iso))} UTC`
