import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { deviceFrame, HostCommandReader, type HostCommand } from './device-codec.js';

/** True when the `socat` program (Debian package `socat`) is installed. */
export function hasSocat(): boolean {
  return spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0;
}

export interface SimKeypadOptions {
  /** Where the pty's stable symlink is created, e.g. /tmp/keyway/ttyKEYPAD. The agent opens this path. */
  linkPath: string;
  model?: string;
  firmware?: string;
}

/**
 * A serial keypad on a real pseudo-terminal. socat creates the pty (the agent's end, at
 * `linkPath`) and bridges it to this process's pipes, so the simulator writes exactly the
 * bytes a real keypad would. disconnect() kills socat, so the agent's port fails like an
 * unplugged USB adapter; connect() brings the same path back.
 */
export class SimSerialKeypad {
  readonly received: HostCommand[] = [];
  private child: ChildProcessWithoutNullStreams | undefined;
  private reader = new HostCommandReader();
  private readonly listeners = new Set<(command: HostCommand) => void>();

  constructor(private readonly options: SimKeypadOptions) {}

  get path(): string {
    return this.options.linkPath;
  }

  get isConnected(): boolean {
    return this.child !== undefined;
  }

  /** Creates the pty and waits until its path exists; then says hello. */
  async connect(): Promise<void> {
    if (this.child) return;
    this.reader = new HostCommandReader();
    // -d -d makes socat say when its transfer loop runs; only then is the pty fully set up
    // (it applies raw mode after creating the link, which would flush early bytes).
    const child = spawn('socat', ['-d', '-d', `pty,link=${this.options.linkPath},raw,echo=0`, 'STDIO'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (chunk: Buffer) => {
      for (const command of this.reader.push(chunk)) {
        this.received.push(command);
        for (const l of [...this.listeners]) l(command);
      }
    });
    const ready = new Promise<void>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`socat did not set up ${this.options.linkPath} within 5 s: ${log}`)), 5000);
      child.stderr.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('starting data transfer loop')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`socat exited (${String(code)}) before the pty was ready: ${log.trim()}`));
      });
    });
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    try {
      await ready;
    } catch (error) {
      this.child = undefined;
      child.kill();
      throw error;
    }
    if (!existsSync(this.options.linkPath)) throw new Error(`socat did not create ${this.options.linkPath}`);
  }

  /** Kills socat: the pty vanishes as if the keypad were unplugged. */
  async disconnect(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  }

  /** Sends `H` (hello), as the device does after power-up. */
  hello(): Promise<void> {
    return this.write(deviceFrame(`H,${this.options.model ?? 'KW-SIM-1'},${this.options.firmware ?? '1.0.0'}`));
  }

  /** Types keys one frame each, e.g. "1234#". */
  async type(keys: string): Promise<void> {
    for (const key of keys) await this.write(deviceFrame(`K,${key}`));
  }

  /** A buffering keypad sends the whole PIN in one frame. */
  submitPin(pin: string): Promise<void> {
    return this.write(deviceFrame(`P,${pin}`));
  }

  /** Writes raw bytes (garbage, half frames, bad checksums) for robustness tests. */
  write(bytes: Buffer | string): Promise<void> {
    const child = this.child;
    if (!child) return Promise.reject(new Error('simulated keypad is disconnected'));
    return new Promise((resolve, reject) => child.stdin.write(bytes, (error) => (error ? reject(error) : resolve())));
  }

  onCommand(listener: (command: HostCommand) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves at the next host command matching `predicate` (or rejects after `timeoutMs`). */
  async nextCommand(predicate: (c: HostCommand) => boolean = () => true, timeoutMs = 5000): Promise<HostCommand> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error('no matching keypad command from the host'));
      }, timeoutMs);
      const off = this.onCommand((c) => {
        if (!predicate(c)) return;
        clearTimeout(timer);
        off();
        resolve(c);
      });
    });
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    await this.disconnect();
  }
}
