import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { freePort, until } from './server-process.js'
import { projectRoot } from '../../lib/project-root.js'

// Debian's nginx, configured by deploy/nginx/postline.conf and the proxy.conf it includes,
// changed only where a test must: loopback ports of its own, the upstream servers, no TLS,
// and every file nginx writes in a temporary directory.

export const NGINX = '/usr/sbin/nginx'
const DEPLOY = join(projectRoot(), 'deploy', 'nginx')

/** Why nginx cannot run here, or false. */
export const nginxMissing = (): string | false =>
  existsSync(NGINX) ? false : `${NGINX} is not installed (on Debian or Ubuntu: apt-get install -y nginx)`

/** `text` with each replacement made; one that matches nothing throws, so the test never runs a config it did not mean to. */
function substitute (text: string, replacements: [RegExp, string][]): string {
  return replacements.reduce((result, [pattern, replacement]) => {
    if (result.search(pattern) === -1) throw new Error(`deploy/nginx/postline.conf no longer matches ${pattern}`)
    return result.replace(pattern, replacement)
  }, text)
}

function siteForTest (ports: { upstreams: string[], http: number, https: number }): string {
  return substitute(readFileSync(join(DEPLOY, 'postline.conf'), 'utf8'), [
    [/server 127\.0\.0\.1:8000;/, ports.upstreams.map(upstream => `server ${upstream};`).join('\n    ')],
    [/listen 80;/, `listen 127.0.0.1:${ports.http};`],
    [/listen 443 ssl;.*/, `listen 127.0.0.1:${ports.https};`],
    [/^.*listen \[::\].*\n/gm, ''],
    // The rest of the TLS stanza.
    [/^.*# managed by Certbot\n/gm, '']
  ])
}

/** The main nginx.conf around a site: in the foreground, its files in `dir`, none of the host's. */
function mainConfig (dir: string, site: string): string {
  return `daemon off;
${process.getuid?.() === 0 ? 'user root; # the default, nobody, cannot enter the private temp dir\n' : ''}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log notice;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${site}
}
`
}

export interface Nginx {
  /** The HTTPS server of postline.conf, without TLS. */
  url: string
  /** Its port-80 server. */
  httpUrl: string
}

/** nginx in front of the `upstreams` (host:port), balancing them as postline.conf does; stopped when `t` ends. */
export async function startNginx (t: Test, upstreams: string[]): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'postline-nginx-'))
  // postline.conf includes postline/proxy.conf, relative to the directory of nginx.conf.
  mkdirSync(join(dir, 'postline'))
  symlinkSync(join(DEPLOY, 'proxy.conf'), join(dir, 'postline', 'proxy.conf'))
  const [http, https] = await Promise.all([freePort(), freePort()])
  writeFileSync(join(dir, 'nginx.conf'), mainConfig(dir, siteForTest({ upstreams, http, https })))

  const child = spawn(NGINX, ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', chunk => { output += chunk })
  child.stderr.on('data', chunk => { output += chunk })
  const exited = new Promise(resolve => child.once('close', resolve))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  })

  const log = () => output + (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '')
  // The master writes its pid file once its sockets listen.
  await until(() => existsSync(join(dir, 'nginx.pid')) || child.exitCode !== null || undefined, 10_000, () => `nginx to start:\n${log()}`)
  if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}:\n${log()}`)
  return { url: `http://127.0.0.1:${https}`, httpUrl: `http://127.0.0.1:${http}` }
}
