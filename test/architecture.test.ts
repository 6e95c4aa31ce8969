// The layering that keeps services independent, checked on the import statements themselves.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'

const root = resolve(import.meta.dirname, '..', 'src')

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true })
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => join(e.parentPath, e.name))
}

async function importsOf(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8')
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)].map((m) => resolve(dirname(file), m[1]!))
}

const area = (path: string): string[] => relative(root, path).split(sep)

test('a service imports other services only through their contract, and never the runtime or gateway', async () => {
  const violations: string[] = []
  for (const file of await sourceFiles(join(root, 'services'))) {
    const [, own] = area(file)
    for (const target of await importsOf(file)) {
      const [top, service, ...rest] = area(target)
      if (top === 'services' && service !== own && rest.join('/') !== 'contract.ts') violations.push(`${relative(root, file)} → ${relative(root, target)}`)
      if (top === 'runtime' || top === 'gateway' || top === 'cli') violations.push(`${relative(root, file)} → ${relative(root, target)}`)
      if (top === 'kit' && [service, ...rest].join('/') !== 'index.ts') violations.push(`${relative(root, file)} → ${relative(root, target)} (import the kit from kit/index.ts)`)
    }
  }
  assert.deepEqual(violations, [])
})

test('the kit depends on no service, gateway, runtime or CLI code', async () => {
  const violations: string[] = []
  for (const file of await sourceFiles(join(root, 'kit'))) {
    for (const target of await importsOf(file)) {
      if (area(target)[0] !== 'kit') violations.push(`${relative(root, file)} → ${relative(root, target)}`)
    }
  }
  assert.deepEqual(violations, [])
})

test('the checks above can fail: they see a cross-service import when there is one', async () => {
  const text = `import { x } from '../catalog/products.ts'`
  const match = [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)]
  assert.equal(match.length, 1)
  const [top, service, ...rest] = area(resolve(join(root, 'services', 'orders'), match[0]![1]!))
  assert.deepEqual([top, service, rest.join('/')], ['services', 'catalog', 'products.ts'])
})
