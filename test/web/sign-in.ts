// Signing in through the sign-in form, as a person would: for the staff and operator page tests.
import type { CheckedPage } from './browser.ts'

export async function signIn({ page }: CheckedPage, email: string, password: string): Promise<void> {
  await page.goto('/sign-in')
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'))
}
