// The catalog suite against a real PostgreSQL server: a fresh database for this run, dropped after.
// POSTGRES_ADMIN_URL points at the server (its `postgres` database); trust auth by default.
import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { catalogSuite, startCatalogNode } from './suite.ts'

const adminUrl = process.env.POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

catalogSuite('PostgreSQL server', async (env) => {
  const name = `mosaic_test_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  const dropDatabase = async (): Promise<void> => {
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.end({ timeout: 5 })
  }
  try {
    await admin.unsafe(`create database ${name}`)
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    const node = await startCatalogNode({ ...env, DATABASE_URL: url.toString() })
    return {
      node,
      stop: async () => {
        try {
          await node.stop()
        } finally {
          await dropDatabase()
        }
      },
    }
  } catch (error) {
    await dropDatabase().catch(() => {})
    throw error
  }
})
