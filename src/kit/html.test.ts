import { test } from 'node:test'
import assert from 'node:assert/strict'
import { escapeHtml, html } from './html.ts'

test('escapeHtml escapes the five characters that matter in content and attributes', () => {
  assert.equal(
    escapeHtml(`<script>alert("x" & 'y')</script>`),
    '&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;',
  )
  assert.equal(escapeHtml('plain'), 'plain')
})

test('html`` escapes values, keeps nested fragments, and drops null', () => {
  const name = '<b>Ann</b>'
  const items = ['<i>', 'ok'].map((x) => html`<li>${x}</li>`)
  assert.equal(
    html`<p title="${name}">${name}</p><ul>${items}</ul>${null}`.value,
    '<p title="&lt;b&gt;Ann&lt;/b&gt;">&lt;b&gt;Ann&lt;/b&gt;</p><ul><li>&lt;i&gt;</li><li>ok</li></ul>',
  )
})
