import { StartupError } from '../lib/startup-error.js'

const ANY_ADDRESS = '127.0.0.1 for this machine only, 0.0.0.0 for every interface'

/** Why `listen` failed, by error code, as one line naming the variable to change; undefined for other failures. */
export function listenFailure (err: NodeJS.ErrnoException, host: string, port: number): StartupError | undefined {
  const line = (name: string, value: string | number, what: string, remedy: string) =>
    new StartupError(`cannot listen on ${name}=${value}: ${what} (${err.code}); ${remedy}`)
  switch (err.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return line('HOST', host, 'it does not resolve', `set HOST to an address or name of this machine (${ANY_ADDRESS})`)
    case 'EADDRNOTAVAIL':
      return line('HOST', host, 'it is not an address of this machine', `set HOST to one of its addresses (${ANY_ADDRESS})`)
    case 'EADDRINUSE':
      return line('PORT', port, 'it is in use', 'stop what uses it or set PORT to another')
    case 'EACCES':
      return line('PORT', port, 'not allowed', 'ports below 1024 need privileges: set PORT to 1024 or above')
    default:
      return undefined
  }
}
