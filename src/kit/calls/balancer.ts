// Choosing an instance for the next call, among those fit to take it. Round-robin spreads calls
// evenly; least-outstanding (power of two random choices) sends each call to the less busy of
// two instances picked at random, which steers around a slow instance without the herd effect
// of always picking the single least busy one.

export type Strategy = 'round-robin' | 'least-outstanding'

export interface Candidate {
  /** Calls sent to this instance and not yet answered. */
  readonly outstanding: number
}

export type Balancer = <T extends Candidate>(candidates: readonly T[]) => T | undefined

export function createBalancer(strategy: Strategy): Balancer {
  if (strategy === 'round-robin') {
    let next = 0
    return (candidates) => (candidates.length === 0 ? undefined : candidates[next++ % candidates.length])
  }
  return (candidates) => {
    if (candidates.length <= 1) return candidates[0]
    const a = Math.floor(Math.random() * candidates.length)
    const b = (a + 1 + Math.floor(Math.random() * (candidates.length - 1))) % candidates.length
    return candidates[a]!.outstanding <= candidates[b]!.outstanding ? candidates[a] : candidates[b]
  }
}
