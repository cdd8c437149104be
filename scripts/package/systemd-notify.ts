import { spawn } from 'node:child_process';

/**
 * Tells systemd (Type=notify, WatchdogSec=) that the agent is ready and that its event loop is alive.
 * Node cannot write to a unix datagram socket, so each message goes through Debian's `systemd-notify`, a child
 * process, which the unit allows with NotifyAccess=all. systemd may drop a message whose short-lived sender has
 * already exited before it was read, so READY=1 is repeated with every watchdog ping (systemd ignores repeats).
 * Does nothing when NOTIFY_SOCKET is unset (not started by systemd).
 */
export class SystemdNotifier {
  private timer: NodeJS.Timeout | undefined;
  private ready = false;

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly notifyProgram = 'systemd-notify',
  ) {}

  get enabled(): boolean {
    return !!this.env.NOTIFY_SOCKET;
  }

  /** Half of WATCHDOG_USEC divided again by 1.5, so that one lost ping never trips the watchdog. */
  get pingIntervalMs(): number | undefined {
    const usec = Number(this.env.WATCHDOG_USEC ?? NaN);
    return Number.isFinite(usec) && usec > 0 ? Math.max(100, Math.floor(usec / 1000 / 3)) : undefined;
  }

  /** READY=1 now, then WATCHDOG=1 (with READY=1) from a timer on the event loop: a hung loop stops the pings. */
  markReady(): void {
    if (!this.enabled || this.ready) return;
    this.ready = true;
    this.send(['--ready', `--status=running`]);
    const every = this.pingIntervalMs;
    if (every !== undefined) {
      this.timer = setInterval(() => this.send(['--ready', 'WATCHDOG=1']), every);
      this.timer.unref();
    }
  }

  markStopping(): void {
    this.stop();
    if (this.enabled) this.send(['STOPPING=1']);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private send(args: string[]): void {
    const child = spawn(this.notifyProgram, args, { stdio: 'ignore', env: this.env });
    // A missing systemd-notify must not take the agent down; systemd will restart it if pings stop.
    child.on('error', () => undefined);
    child.unref();
  }
}
