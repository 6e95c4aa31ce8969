// The header's links. The storefront's are fixed; the staff links are a slot: areas for staff and
// administrators (back office, console) add themselves here and the layout shows each link only
// to a user holding one of its roles.
export interface NavLink {
  readonly href: string
  readonly label: string
  /** Shown to users with any of these roles (after the policies' hierarchy: admin ⊇ staff). */
  readonly roles: readonly string[]
}

const staffLinks: NavLink[] = []

/** Registers a link for staff or administrators; call at module load of the area that serves it. */
export function addStaffLink(link: NavLink): void {
  if (!staffLinks.some((l) => l.href === link.href)) staffLinks.push(link)
}

export const staffLinksFor = (roles: readonly string[]): NavLink[] =>
  staffLinks.filter((link) => link.roles.some((role) => roles.includes(role)))
