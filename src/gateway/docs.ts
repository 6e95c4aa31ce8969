// The API reference page: Swagger UI served from the installed swagger-ui-dist package, so it
// works offline and behind a firewall.
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { FastifyInstance } from 'fastify'

const assets = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))
const files: Record<string, string> = { 'swagger-ui.css': 'text/css', 'swagger-ui-bundle.js': 'text/javascript' }

const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mosaic API reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>`
const init = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#ui', deepLinking: true })`

export function registerDocs(app: FastifyInstance): void {
  app.get('/docs', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page))
  app.get('/docs/init.js', async (_request, reply) => reply.type('text/javascript').send(init))
  app.get<{ Params: { file: string } }>('/docs/:file', async (request, reply) => {
    const type = files[request.params.file]
    if (!type) return reply.callNotFound()
    return reply
      .type(type)
      .header('cache-control', 'public, max-age=86400')
      .send(await readFile(join(assets, request.params.file)))
  })
}
