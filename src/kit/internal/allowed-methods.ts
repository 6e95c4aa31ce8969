// Which methods a path answers to, for a 405 with `Allow` (RFC 9110 §15.5.6) instead of a 404
// when a known path is asked with the wrong method. Fastify's own router is not exposed, so
// every route is also entered, as it is added, in a router of the same kind (find-my-way) that
// only answers this question.
import type { FastifyInstance } from 'fastify'
import FindMyWay from 'find-my-way'

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

/** Must be called before routes are added; returns the lookup: the methods `path` has routes for. */
export function trackAllowedMethods(
  app: FastifyInstance,
  options: { ignoreTrailingSlash: boolean },
): (path: string) => string[] {
  const router = FindMyWay({ ignoreTrailingSlash: options.ignoreTrailingSlash })
  app.addHook('onRoute', (route) => {
    // A catch-all (a proxied prefix, CORS preflights) says nothing about which methods a path has.
    if (route.url.endsWith('*')) return
    for (const method of [route.method].flat()) {
      if ((METHODS as readonly string[]).includes(method) && !router.find(method as FindMyWay.HTTPMethod, route.url))
        router.on(method as FindMyWay.HTTPMethod, route.url, () => {})
    }
  })
  return (path) => METHODS.filter((method) => router.find(method, path) !== null)
}
