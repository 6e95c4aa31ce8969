// The documentation's shell examples work as written, in order, on a fresh start. The rules:
// - The ```sh blocks of README.md, then of the gateway's and each service's README (in `documents`
//   order), run in one bash, one command after another, in a temporary working directory. The
//   ```bash blocks are not run: they start the distributed system on servers of the reader's
//   (test/parity/distributed.test.ts runs those same `mosaic services` commands).
// - A command is a line and the lines its trailing backslashes join; comment and blank lines are not.
// - Commands that install, start or test the project (`npm …`, after any VAR=value assignments) are
//   not run: this test starts the system itself (`mosaic start` on a free port, a fresh temporary
//   DATA_DIR) with the VAR=value assignments written before the README's `npm start`.
// - `localhost:8080` becomes the started system's port, and `localhost:9464` its metrics port.
// - Every command must exit 0.
// - A trailing comment that begins with a status (`# 201 + Location`) claims it: the output shows that
//   status (curl -i's last status line, or the code printed by -w '%{http_code}').
// - Comment lines right after a command that begin with `{` or `HTTP/` show its output: the status
//   they name, and each "key":value pair whose value is a string, number, true, false or null without
//   an ellipsis (…), must appear in the output.
// Every file path the documents name (in backticks or as a link) must exist too.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { spawnNode, cli, type Child } from './process.ts'

const root = join(import.meta.dirname, '..')
const services = ['identity', 'catalog', 'orders', 'payments', 'notifications', 'analytics', 'files']
const documents = ['README.md', 'src/gateway/README.md', ...services.map((s) => `src/services/${s}/README.md`)]

interface Command {
  readonly document: string
  readonly text: string
  /** The status the command's trailing comment or the output shown after it claims. */
  readonly status?: number
  /** `"key":value` pieces the output shown after it claims. */
  readonly pieces: readonly string[]
}

const SETUP = /^(?:[A-Z_][A-Z0-9_]*=(?:'[^']*'|"[^"]*"|\S*)\s+)*npm\b/

/** The comment at the end of a line, outside quotes: `curl 'a#b' # 201` → `201`. */
function trailingComment(line: string): string | undefined {
  let quote: string | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote) {
      if (c === quote) quote = undefined
      else if (c === '\\' && quote === '"') i++
    } else if (c === "'" || c === '"') quote = c
    else if (c === '\\') i++
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(i + 1).trim()
  }
  return undefined
}

function commandsOf(document: string, markdown: string): { commands: Command[]; setup: string[] } {
  const commands: Command[] = []
  const setup: string[] = []
  for (const [, block] of markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    const lines = block!.split('\n')
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]!.trim() || lines[i]!.trim().startsWith('#')) continue
      const joined = [lines[i]!]
      while (joined.at(-1)!.trimEnd().endsWith('\\') && i + 1 < lines.length) joined.push(lines[++i]!)
      const text = joined.join('\n')
      if (SETUP.test(text.trim())) {
        setup.push(text.trim())
        continue
      }
      const shown: string[] = []
      while (i + 1 < lines.length && lines[i + 1]!.trim().startsWith('#'))
        shown.push(lines[++i]!.trim().replace(/^#\s?/, ''))
      const output = /^(\{|HTTP\/)/.test(shown[0] ?? '') ? shown.join(' ') : ''
      const status =
        /^(\d{3})\b/.exec(trailingComment(joined.at(-1)!) ?? '')?.[1] ?? /^HTTP\/[\d.]+ (\d{3})/.exec(output)?.[1]
      const pieces = [...output.matchAll(/"[\w$-]+":(?:"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)/g)]
        .map((m) => m[0])
        .filter((p) => !p.includes('…'))
      commands.push({ document, text, pieces, ...(status ? { status: Number(status) } : {}) })
    }
  }
  return { commands, setup }
}

const parsed = documents.map((d) => commandsOf(d, readFileSync(join(root, d), 'utf8')))
const commands = parsed.flatMap((p) => p.commands)
const setup = parsed.flatMap((p) => p.setup)

/** `A=1 B='two words' npm start` → { A: '1', B: 'two words' }. */
function assignments(line: string): Record<string, string> {
  return Object.fromEntries(
    [...line.matchAll(/([A-Z_][A-Z0-9_]*)=('[^']*'|"[^"]*"|\S*)\s+/g)].map(([, k, v]) => [
      k!,
      v!.replace(/^(['"])(.*)\1$/, '$2'),
    ]),
  )
}

let system: Child
let work: string
const outputs: { output: string; code: number }[] = []

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'mosaic-readme-'))
  const start = setup.find((line) => /\bnpm start\b/.test(line))
  assert.ok(start, 'the README says how to start the system (`npm start`)')
  system = await spawnNode(
    [cli, 'start'],
    {
      ...assignments(start),
      PORT: '0',
      DATA_DIR: join(work, 'data'),
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
    },
    60_000,
  )
  const port = new URL(system.url).port
  const metricsPort = new URL(system.metricsUrl).port
  await mkdir(join(work, 'out'))
  await mkdir(join(work, 'home'))
  const script = commands
    .map(
      (c, i) =>
        `{ ${c.text.replaceAll('localhost:8080', `localhost:${port}`).replaceAll('localhost:9464', `localhost:${metricsPort}`)}\n} > out/${i} 2>&1\necho $? > out/${i}.rc\n`,
    )
    .join('')
  await writeFile(join(work, 'examples.sh'), script)
  // HOME is empty, so no ~/.curlrc changes what curl does.
  const bash = spawn('bash', ['--noprofile', '--norc', 'examples.sh'], {
    cwd: work,
    env: { PATH: process.env.PATH!, HOME: join(work, 'home'), LANG: 'C.UTF-8' },
    stdio: 'inherit',
  })
  const timer = setTimeout(() => bash.kill('SIGKILL'), 180_000)
  await once(bash, 'exit')
  clearTimeout(timer)
  for (let i = 0; i < commands.length; i++) {
    outputs.push({
      output: await readFile(join(work, 'out', String(i)), 'utf8').catch(() => ''),
      code: Number((await readFile(join(work, 'out', `${i}.rc`), 'utf8').catch(() => 'NaN')).trim()),
    })
  }
})

after(async () => {
  await system?.kill('SIGTERM')
  if (work) await rm(work, { recursive: true, force: true })
})

test('the documents have examples, and the README says how to start the system', () => {
  for (const document of documents.filter((d) => d !== 'src/services/catalog/README.md')) {
    assert.ok(
      commands.some((c) => c.document === document),
      `${document} has no runnable sh example`,
    )
  }
  assert.ok(
    setup.some((line) => line === 'npm install'),
    'the README installs with `npm install`',
  )
  assert.ok(commands.filter((c) => c.status !== undefined).length >= 20, 'the examples claim statuses')
  assert.ok(commands.filter((c) => c.pieces.length > 0).length >= 8, 'the examples show outputs')
})

for (const [i, command] of commands.entries()) {
  const first = command.text.split('\n')[0]!.slice(0, 100)
  test(`${command.document} #${i}: ${first}`, () => {
    const { output, code } = outputs[i]!
    const context = `\n$ ${command.text}\n${output.slice(0, 2000)}`
    assert.equal(code, 0, `exited with ${code}${context}`)
    if (command.status !== undefined) {
      const statuses = [...output.matchAll(/^HTTP\/[\d.]+ (\d{3})/gm)].map((m) => Number(m[1]))
      const shown = statuses.at(-1) ?? Number(output.trim().split('\n')[0])
      assert.equal(shown, command.status, `status${context}`)
    }
    for (const piece of command.pieces) assert.ok(output.includes(piece), `the output lacks ${piece}${context}`)
  })
}

test('every path the documents name exists', () => {
  const missing: string[] = []
  for (const document of [
    ...documents,
    ...['architecture', 'testing', 'benchmarks', 'configuration'].map((d) => `docs/${d}.md`),
  ]) {
    const dir = dirname(join(root, document))
    const markdown = readFileSync(join(root, document), 'utf8').replace(/^```[\s\S]*?^```$/gm, '')
    const named = [
      ...[...markdown.matchAll(/`((?:src|test|bench|policies|docs|scripts|bin)\/[\w./<>*-]*)`/g)].map((m) =>
        join(root, m[1]!),
      ),
      ...[...markdown.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
        .filter((m) => !/^[a-z]+:/.test(m[1]!))
        .map((m) => join(dir, m[1]!)),
    ]
    // A bare file name (`saga.ts`; not a pattern such as `NNN_name.sql`) is one of the document's own
    // folder, or of test/; a root document's, anywhere.
    const near = document.includes('/') && !document.startsWith('docs/') ? [dir, join(root, 'test')] : [root]
    for (const [, name] of markdown.matchAll(/`([a-z0-9][\w.-]*\.(?:ts|sql|txt|json|cedar))`/g)) {
      if (!near.some((folder) => filesUnder(folder).some((file) => file.endsWith(`/${name}`))))
        missing.push(`${document}: ${name}`)
    }
    for (const path of named) {
      // Placeholders and patterns (`<name>`, `*.cedar`) name a folder that must exist.
      const concrete = path.replace(/[/]?[^/]*[<*][^/]*.*$/, '')
      if (!existsSync(concrete) && !isPlanned(concrete)) missing.push(`${document}: ${relative(root, concrete)}`)
    }
  }
  assert.deepEqual(missing, [])
})

const listed = new Map<string, string[]>()
/** Every file under `folder` as `/relative/path`, skipping node_modules and dot folders. */
function filesUnder(folder: string): string[] {
  if (!listed.has(folder)) {
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true })
        .filter((e) => !e.name.startsWith('.') && e.name !== 'node_modules')
        .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [`/${relative(folder, join(dir, e.name))}`]))
    listed.set(folder, walk(folder))
  }
  return listed.get(folder)!
}

/** Documents other branches are writing (linked from the README before they land). */
function isPlanned(path: string): boolean {
  return ['docs/security.md', 'docs/cache.md', 'docs/distributed.md'].includes(relative(root, path))
}
