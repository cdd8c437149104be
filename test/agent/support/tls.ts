import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const opensslAvailable = spawnSync('openssl', ['version']).status === 0;

export interface ThrowawayPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate signed by a different CA: the broker must refuse it. */
  strangerCert: string;
  strangerKey: string;
  dispose(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** A CA made for one test run (Debian package `openssl`), a server cert for 127.0.0.1 and a device cert. */
export function makeThrowawayPki(deviceId: string): ThrowawayPki {
  const dir = mkdtempSync(join(tmpdir(), 'keyway-pki-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=keyway-test-ca'], dir);
  openssl(['req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-days', '2', '-subj', '/CN=someone-else-ca'], dir);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  const issue = (name: string, cn: string, ca: string, ext: string): void => {
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', ext], dir);
  };
  issue('server', 'localhost', 'ca', 'server.ext');
  issue('client', deviceId, 'ca', 'client.ext');
  issue('stranger', deviceId, 'other-ca', 'client.ext');
  // mosquitto started as root drops to its own user before reading certificates: let it read these test files.
  chmodSync(dir, 0o755);
  for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
  const p = (f: string): string => join(dir, f);
  return {
    dir,
    caCert: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    strangerCert: p('stranger.crt'),
    strangerKey: p('stranger.key'),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** mosquitto listener lines for mutual TLS: the client must present a certificate signed by our CA. */
export function mutualTlsListenerLines(pki: ThrowawayPki): string[] {
  return [`cafile ${pki.caCert}`, `certfile ${pki.serverCert}`, `keyfile ${pki.serverKey}`, 'require_certificate true', 'use_identity_as_username true'];
}
