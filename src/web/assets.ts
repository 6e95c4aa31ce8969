// The static files the pages load: htmx from its npm package, the site's stylesheet and icon. Read
// once at start and served from memory with a content hash in the URL, so browsers cache them for
// good (`immutable`) and a new version is a new URL; three fixed files do not need a static-files plugin.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'

interface Asset {
  readonly body: Buffer
  readonly type: string
  readonly url: string
}

function asset(name: string, path: string, type: string): Asset {
  const body = readFileSync(path)
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 12)
  return { body, type, url: `/assets/${name}?v=${hash}` }
}

export interface Assets {
  readonly htmx: string
  readonly css: string
  /** The console's and back office's own styles, linked by their pages only. */
  readonly ops: string
  readonly icon: string
}

export function registerAssets(app: FastifyInstance): Assets {
  const require = createRequire(import.meta.url)
  const files = {
    'htmx.min.js': asset('htmx.min.js', require.resolve('htmx.org/dist/htmx.min.js'), 'text/javascript; charset=utf-8'),
    'site.css': asset('site.css', join(import.meta.dirname, 'assets', 'site.css'), 'text/css; charset=utf-8'),
    'ops.css': asset('ops.css', join(import.meta.dirname, 'assets', 'ops.css'), 'text/css; charset=utf-8'),
    'favicon.svg': asset('favicon.svg', join(import.meta.dirname, 'assets', 'favicon.svg'), 'image/svg+xml'),
  }
  app.get<{ Params: { name: string } }>('/assets/:name', async (request, reply) => {
    const file = files[request.params.name as keyof typeof files]
    if (!file) return reply.code(404).type('text/plain').send('not found')
    return reply.type(file.type).header('cache-control', 'public, max-age=31536000, immutable').send(file.body)
  })
  return {
    htmx: files['htmx.min.js'].url,
    css: files['site.css'].url,
    ops: files['ops.css'].url,
    icon: files['favicon.svg'].url,
  }
}
