/**
 * The packaged agent's entry: agent/src/cli's `main` with systemd readiness and watchdog pings around `run`.
 * The agent prints "<id> running" once started and "received SIG..." when it begins to stop; those lines mark
 * READY=1 and STOPPING=1. Error handling mirrors agent/src/cli/main.ts `cli()` (exit 2 for an invalid config).
 * When the agent grows its own sd_notify support this file can go and package:agent can bundle bin.ts again.
 */
import { describeError, isKeywayError } from '@keyway/shared';
import { main } from '../../agent/src/cli/main.js';
import { SystemdNotifier } from './systemd-notify.js';

const notifier = new SystemdNotifier();
const io = {
  out: (line: string): void => {
    process.stdout.write(`${line}\n`);
    if (/^keyway-agent \S+ running /.test(line)) notifier.markReady();
    else if (/^received SIG[A-Z]+; shutting down/.test(line)) notifier.markStopping();
  },
  err: (line: string): void => {
    process.stderr.write(`${line}\n`);
  },
};

main(process.argv.slice(2), io).then(
  (code) => {
    notifier.stop();
    process.exitCode = code;
  },
  (error: unknown) => {
    notifier.stop();
    process.stderr.write(`keyway-agent: ${isKeywayError(error) ? `${error.code}: ` : ''}${describeError(error)}\n`);
    process.exitCode = isKeywayError(error, 'CONFIG_INVALID') ? 2 : 1;
  },
);
