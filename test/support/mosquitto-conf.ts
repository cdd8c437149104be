import { userInfo } from 'node:os';
import { join } from 'node:path';

/** A mosquitto.conf for a throwaway broker on 127.0.0.1:`port` using `dir`/passwd and `dir`/acl. */
export function mosquittoConf(dir: string, port: number): string {
  return [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous false',
    `password_file ${join(dir, 'passwd')}`,
    `acl_file ${join(dir, 'acl')}`,
    // Run as ourselves: as root mosquitto would switch to the "mosquitto" user, who cannot read our temp folder.
    `user ${userInfo().username}`,
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n');
}
