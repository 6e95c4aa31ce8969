// `GET /`: what someone who opens the gateway's address finds — where the API reference, the
// OpenAPI document and the health checks are, and a first request to try. HTML for a browser,
// JSON for a client that asks for it. Small on purpose: a web application may take `/` later.
import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { html, SafeHtml } from '../kit/html.ts'

const links = [
  { rel: 'docs', href: '/docs', title: 'API reference (Swagger UI)' },
  { rel: 'openapi', href: '/openapi.json', title: 'OpenAPI 3.1 document' },
  { rel: 'ready', href: '/health/ready', title: 'Readiness' },
  { rel: 'live', href: '/health/live', title: 'Liveness' },
]

const style =
  'body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem}pre{background:#f4f4f4;padding:1rem;overflow:auto}'
// The page's own policy: nothing may load or run but its one inline style, named by its hash.
const policy = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(style).digest('base64')}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`

function page(version: string): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Mosaic</title><style>${new SafeHtml(style)}</style></head>
<body><h1>Mosaic</h1><p>The API gateway of a Mosaic system, version ${version}. Every public route is under <code>/api</code>.</p>
<ul>${links.map((l) => html`<li><a href="${l.href}">${l.title}</a></li>`)}</ul>
<h2>First steps</h2>
<pre>curl -s -X POST $URL/api/users -H 'content-type: application/json' \\
  -d '{"email":"ann@example.com","password":"a long passphrase","name":"Ann"}'
curl -s -X POST $URL/api/users/login -H 'content-type: application/json' \\
  -d '{"email":"ann@example.com","password":"a long passphrase"}'
curl -s $URL/api/products</pre>
<p>The README of the repository walks through the rest.</p></body></html>`.value
}

export function registerLanding(app: FastifyInstance, version: string): void {
  const body = page(version)
  app.get('/', async (request, reply) => {
    reply.header('vary', 'accept')
    const accept = request.headers.accept ?? ''
    if (/application\/(.+\+)?json/.test(accept) && !accept.includes('text/html'))
      return { name: 'mosaic', version, links }
    return reply.type('text/html; charset=utf-8').header('content-security-policy', policy).send(body)
  })
}
