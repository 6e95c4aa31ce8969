// Instances named by the environment: <NAME>_SERVICE_URL, one URL or several comma-separated.
// Nothing to join or renew: whatever serves those URLs (a DNS name, a Kubernetes Service) is
// kept current by someone else; draining is seen through the instances' /health/ready.
import { envPrefix, splitList, ConfigError } from '../config.ts'
import type { Registry, InstanceInfo } from './registry.ts'

export function staticRegistry(env: NodeJS.ProcessEnv): Registry {
  const cache = new Map<string, readonly InstanceInfo[]>()
  const read = (service: string): readonly InstanceInfo[] => {
    const variable = `${envPrefix(service)}_SERVICE_URL`
    const urls = splitList(env[variable] ?? '')
    for (const url of urls)
      if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
        throw new ConfigError(variable, 'must be http(s) URLs, comma-separated', url)
    return urls.map((url) => ({ service, id: url, url, version: '', startedAt: '', draining: false }))
  }
  return {
    kind: 'static',
    instances(service) {
      let found = cache.get(service)
      if (!found) cache.set(service, (found = read(service)))
      return found
    },
    knows: (service) => Boolean(env[`${envPrefix(service)}_SERVICE_URL`]),
    join: async () => {},
    drain: async () => false,
    close: async () => {},
  }
}

/** Checks every <NAME>_SERVICE_URL in `env` now, not at the first call that needs it. */
export function checkServiceUrls(env: NodeJS.ProcessEnv): void {
  const registry = staticRegistry(env)
  for (const key of Object.keys(env)) {
    if (key.endsWith('_SERVICE_URL') && env[key])
      registry.instances(key.slice(0, -'_SERVICE_URL'.length).toLowerCase().replace(/_/g, '-'))
  }
}
