#!/usr/bin/env node
// Node 24 runs the TypeScript sources directly (type stripping): there is no build step. Node's
// compile cache keeps the stripped and compiled modules on disk (keyed by their content), which
// takes about a third off the CPU a start spends loading code; NODE_DISABLE_COMPILE_CACHE=1 turns it off.
// The code comes from one bundled file when there is one made from the sources as they are
// (src/runtime/start-bundle.ts), else from the sources themselves.
import { enableCompileCache } from 'node:module'
import { NODE_FLAGS, lacksNodeFlags } from '../src/runtime/node-flags.ts'
import { freshBundle } from '../src/runtime/start-bundle.ts'

// Started without Mosaic's Node flags (`npx mosaic`, `node bin/mosaic.js`): the process replaces
// itself with one given them (execve keeps the process id, as a supervisor or a `kill -9` expects),
// some 40 ms before anything is loaded. Not where execve is missing (Windows): it runs without.
if (typeof process.execve === 'function' && lacksNodeFlags(process.execArgv, process.env.NODE_OPTIONS))
  process.execve(process.execPath, [process.execPath, ...NODE_FLAGS, ...process.execArgv, ...process.argv.slice(1)])

enableCompileCache()
await import(freshBundle() ?? '../src/cli/mosaic.ts')
