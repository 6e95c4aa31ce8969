// What a client that asks the gateway's address for JSON finds: where the API reference, the
// OpenAPI document and the health checks are. Browsers get the web application (src/web) there.
export const landingLinks = [
  { rel: 'docs', href: '/docs', title: 'API reference (Swagger UI)' },
  { rel: 'openapi', href: '/openapi.json', title: 'OpenAPI 3.1 document' },
  { rel: 'ready', href: '/health/ready', title: 'Readiness' },
  { rel: 'live', href: '/health/live', title: 'Liveness' },
]

export const landingJson = (version: string) => ({ name: 'mosaic', version, links: landingLinks })
