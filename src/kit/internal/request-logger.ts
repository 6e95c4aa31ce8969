// A request's logger (Fastify's request.log, bound to its request id), made when something logs
// through it rather than for every request: pino's child() writes out the bindings each time,
// some 2 % of a cached read, and most requests log nothing (request logging is off; errors and
// aborts log). Written here because Fastify takes any object with the logger's methods.
import type { FastifyBaseLogger } from 'fastify'
import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString } from 'pino'

type Method = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
const log = (logger: FastifyBaseLogger, method: Method, args: unknown[]): void =>
  (logger[method] as (...args: unknown[]) => void)(...args)

class RequestLogger {
  #log: FastifyBaseLogger | undefined
  readonly #parent: FastifyBaseLogger
  readonly #bindings: Bindings
  readonly #options: ChildLoggerOptions
  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
  }
  #child(): FastifyBaseLogger {
    return (this.#log ??= this.#parent.child(this.#bindings, this.#options))
  }
  get level(): LevelWithSilentOrString {
    return this.#child().level
  }
  set level(level: LevelWithSilentOrString) {
    this.#child().level = level
  }
  isLevelEnabled(level: string): boolean {
    return (this.#child() as unknown as { isLevelEnabled(level: string): boolean }).isLevelEnabled(level)
  }
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#child().child(bindings, options)
  }
  fatal(...args: unknown[]): void {
    log(this.#child(), 'fatal', args)
  }
  error(...args: unknown[]): void {
    log(this.#child(), 'error', args)
  }
  warn(...args: unknown[]): void {
    log(this.#child(), 'warn', args)
  }
  info(...args: unknown[]): void {
    log(this.#child(), 'info', args)
  }
  debug(...args: unknown[]): void {
    log(this.#child(), 'debug', args)
  }
  trace(...args: unknown[]): void {
    log(this.#child(), 'trace', args)
  }
  silent(): void {}
}

/** Fastify's childLoggerFactory. */
export const lazyRequestLogger = (
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger => new RequestLogger(logger, bindings, options) as unknown as FastifyBaseLogger
