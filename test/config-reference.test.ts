// docs/configuration.md is rendered from the configuration schemas (scripts/config-reference.ts):
// a variable added, changed or left undescribed without regenerating it fails here.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import Type from 'typebox'
import { renderConfigReference, referencePath } from '../scripts/config-reference.ts'

test('docs/configuration.md is what the schemas render (run `npm run docs:config` after changing a variable)', () => {
  assert.equal(readFileSync(referencePath, 'utf8'), renderConfigReference())
})

test('the reference lists every area, each variable once, with its default', () => {
  const doc = renderConfigReference()
  for (const heading of ['## Every process', '## Gateway', '## Service: identity', '## Service: files'])
    assert.ok(doc.includes(`\n${heading}\n`), heading)
  assert.match(doc, /\| `PORT` \| `8080` \| integer 0–65535 \| /)
  assert.match(doc, /\| `CATALOG_SERVICE_PORT` \| `3002` \| /)
  assert.match(doc, /\| `GATEWAY_ROUTES` \| `policies\/routes` \| /)
  // Shared variables (the token settings of gateway and identity) have one row, where first declared.
  assert.equal(doc.match(/\| `AUTH_ISSUER` \|/g)?.length, 1)
  assert.match(doc, /Also reads `AUTH_ISSUER` \(Gateway\)/)
})

test('a variable without a description, or declared twice with different defaults, is refused', () => {
  const area = (title: string, schema: ReturnType<typeof Type.Object>) => ({ title, source: 'x', schemas: [schema] })
  assert.throws(
    () => renderConfigReference([area('A', Type.Object({ UNDESCRIBED: Type.Integer({ default: 1 }) }))]),
    /UNDESCRIBED \(A, x\) has no description/,
  )
  assert.throws(
    () =>
      renderConfigReference([
        area('A', Type.Object({ TWICE: Type.Integer({ default: 1, description: 'd' }) })),
        area('B', Type.Object({ TWICE: Type.Integer({ default: 2, description: 'd' }) })),
      ]),
    /TWICE has default 2 in B but 1 in A/,
  )
  assert.match(
    renderConfigReference([area('A', Type.Object({ PIPE: Type.String({ default: 'a|b', description: 'x | y' }) }))]),
    /\| `PIPE` \| `a\\\|b` \| text \| x \\\| y \|/,
  )
})
