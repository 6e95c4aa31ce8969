#!/usr/bin/env node
// Node 24 runs the TypeScript sources directly (type stripping): there is no build step. Node's
// compile cache keeps the stripped and compiled modules on disk (keyed by their content), which
// takes about a third off the CPU a start spends loading code; NODE_DISABLE_COMPILE_CACHE=1 turns it off.
import { enableCompileCache } from 'node:module'

enableCompileCache()
await import('../src/cli/mosaic.ts')
