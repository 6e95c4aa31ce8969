/** A mistake in how the `mosaic` command was called: one line, then the usage. */
export class UsageError extends Error {}

/** `mosaic services …` could not do what was asked (a process that did not start, a bad --replicas): one line. */
export class ServicesError extends Error {}
