// Bar charts as data for server-rendered SVG (the reports page): the geometry is computed here, the
// template only draws rectangles and labels. A charting library would want a browser and scripts,
// which the pages' CSP keeps out; bars over one axis are a few lines of arithmetic.

export interface Bar {
  readonly label: string
  readonly value: number
  /** The bar's length in the chart's units (0–100), from zero to the largest value. */
  readonly size: number
  /** Its place along the other axis (0–100): where the bar starts. */
  readonly at: number
  /** Its thickness along that axis (0–100). */
  readonly thickness: number
}

/** `values` as bars side by side, scaled to the largest (all zero: empty bars). A gap of a fifth between bars. */
export function bars(values: readonly { label: string; value: number }[]): Bar[] {
  const max = Math.max(0, ...values.map((v) => v.value))
  const slot = values.length > 0 ? 100 / values.length : 0
  return values.map((v, i) => ({
    label: v.label,
    value: v.value,
    size: max > 0 ? Math.round((Math.max(0, v.value) / max) * 1000) / 10 : 0,
    at: Math.round((i * slot + slot * 0.1) * 100) / 100,
    thickness: Math.round(slot * 0.8 * 100) / 100,
  }))
}

/** Every day from `from` to `to` (YYYY-MM-DD, inclusive), so days without sales show as empty bars. */
export function days(from: string, to: string): string[] {
  const out: string[] = []
  for (let d = Date.parse(`${from}T00:00:00Z`); d <= Date.parse(`${to}T00:00:00Z`); d += 86_400_000)
    out.push(new Date(d).toISOString().slice(0, 10))
  return out
}
