// Node flags every Mosaic process runs with: bin/mosaic.js gives them to itself, `npm start`
// (package.json) passes them at once, and the processes Mosaic spawns (`mosaic services start`,
// `mosaic dev`) get them on their command line.

/**
 * V8's young generation grows to two 64 MB halves under load and keeps them: a third of the
 * process's memory after a minute of reads, for garbage that dies young anyway. Capped at 16 MB
 * each, the same load leaves some 100 MB less resident at no throughput cost we could measure
 * (docs/benchmarks.md). V8 reads the size only as the process starts, which is why it is a flag
 * here and not set from inside, as the WebAssembly tiering budget is (kit/db/pglite.ts).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16']

/** Whether the running process lacks a flag of NODE_FLAGS, by name (an operator's own value is kept). */
export function lacksNodeFlags(execArgv: readonly string[], nodeOptions = ''): boolean {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map((flag) => flag.split('=')[0])
  return NODE_FLAGS.some((flag) => !given.includes(flag.split('=')[0]))
}
