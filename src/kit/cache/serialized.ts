// The JSON of values the read cache holds, so that a hit is answered without serialising the same
// object again (JSON.stringify was a tenth of a cached read's own work). The cache measures each
// value by its JSON anyway, so the text costs nothing more to make. Keyed by the object itself:
// a cached value is a shared object that is never changed (cache.ts), and an entry dropped from
// the cache lets its text go with it (a WeakMap holds neither).
const texts = new WeakMap<object, string>()

export function rememberJson(value: unknown, json: string): void {
  if (typeof value === 'object' && value !== null) texts.set(value, json)
}

/** The JSON the cache made of `value`, if it holds it; otherwise undefined, and it is serialised as usual. */
export function knownJson(value: unknown): string | undefined {
  return typeof value === 'object' && value !== null ? texts.get(value) : undefined
}
