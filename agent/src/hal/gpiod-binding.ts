import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { createLogger, ErrorCode, KeywayError, type Logger } from '@keyway/shared';
import { assertReadWrite, realProbe, type AccessProbe } from './access.js';
import {
  gpiogetArgs,
  gpiomonArgs,
  gpiosetArgs,
  gpiosetInteractiveLine,
  isGpiomonBanner,
  parseGpiodetect,
  parseGpioget,
  parseGpiomonLine,
  parseToolsVersion,
  type DetectedChip,
  type GpiodVersion,
} from './gpiod-cli.js';
import { relayPowerOnWarning } from './power-on.js';
import { HEADER_CHIP_LABELS } from './sysfs-chips.js';
import type { DigitalInput, DigitalOutput, GpioBinding, InputSpec, OutputSpec } from './types.js';

const run = promisify(execFile);

export interface GpiodBindingOptions {
  /** Chip name (gpiochip0) or label; default: the chip whose label is a known Pi header chip. */
  chip?: string;
  /** Directory holding gpioset/gpioget/gpiomon/gpiodetect; default: found on PATH. */
  toolsDir?: string;
  /** Where /dev/gpiochipN live, for the access check. Default `/dev`. */
  devRoot?: string;
  relayName?: string;
  probe?: AccessProbe;
  logger?: Logger;
}

interface Tools {
  version: GpiodVersion;
  interactive: boolean;
  chip: string;
}

/**
 * GPIO over the Linux character device through the libgpiod command-line tools (Debian package
 * `gpiod`). Chosen over a Node binding because the tools ship with Raspberry Pi OS, need no
 * native addon compiled against a particular libgpiod (v1 and v2 APIs differ), and a crashed
 * tool cannot take the agent down. An output is held by one long-running gpioset; with v2's
 * interactive mode a new level goes to its stdin without releasing the line, otherwise the
 * holder is replaced. Inputs are read once with gpioget and then followed with gpiomon.
 */
export class GpiodBinding implements GpioBinding {
  readonly kind = 'gpiod';
  private tools: Tools | undefined;
  private readonly children = new Set<ChildProcess>();
  private readonly log: Logger;

  constructor(private readonly options: GpiodBindingOptions = {}) {
    this.log = options.logger ?? createLogger('agent.hal.gpiod');
  }

  async openOutput(spec: OutputSpec): Promise<DigitalOutput> {
    const tools = await this.detect();
    const activeLow = spec.activeLow ?? false;
    if (spec.name === (this.options.relayName ?? 'relay')) {
      const warning = relayPowerOnWarning(spec.pin, activeLow);
      if (warning) this.log.warn({ pin: spec.pin, activeLow }, warning);
    }
    const level = (active: boolean): 0 | 1 => (active !== activeLow ? 1 : 0);
    let holder = await this.hold(tools, spec, level(false));
    let active = false;
    return {
      name: spec.name,
      get active() {
        return active;
      },
      write: async (value) => {
        if (tools.interactive && holder.stdin) {
          holder.stdin.write(gpiosetInteractiveLine(spec.pin, level(value)));
        } else {
          const next = level(value);
          await this.stopChild(holder);
          holder = await this.hold(tools, spec, next);
        }
        active = value;
      },
      close: async () => {
        // Leave the line at its inactive level before letting go of it.
        if (active) {
          if (tools.interactive && holder.stdin) holder.stdin.write(gpiosetInteractiveLine(spec.pin, level(false)));
          active = false;
        }
        // `exit` is processed after the queued set commands, unlike a signal.
        if (tools.interactive && holder.stdin) holder.stdin.end('exit\n');
        await this.stopChild(holder, tools.interactive ? 1000 : 0);
      },
    };
  }

  async openInput(spec: InputSpec): Promise<DigitalInput> {
    const tools = await this.detect();
    const activeLow = spec.activeLow ?? false;
    const { stdout } = await run(this.tool('gpioget'), gpiogetArgs(tools.version, tools.chip, spec.pin)).catch((error: unknown) => {
      throw this.toolError('gpioget', spec, error);
    });
    const initial = parseGpioget(stdout);
    if (initial === undefined) throw new KeywayError(ErrorCode.HardwareUnavailable, `gpioget printed "${stdout.trim()}" for GPIO ${spec.pin}; check the libgpiod version`);
    let value = (initial === 1) !== activeLow;
    const listeners = new Set<(active: boolean) => void>();
    const child = spawn(this.tool('gpiomon'), gpiomonArgs(tools.version, tools.chip, spec.pin), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.track(child, spec);
    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolve) => {
      markReady = resolve;
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (isGpiomonBanner(line)) markReady();
      const event = parseGpiomonLine(tools.version, line);
      if (!event || event.offset !== spec.pin) return;
      const next = (event.level === 1) !== activeLow;
      if (next === value) return;
      value = next;
      for (const l of [...listeners]) l(next);
    });
    // Edges before gpiomon holds the line are lost: wait for v2's banner (v1 has none, so a
    // short settle), so a caller that opens the line and then watches it misses nothing.
    await Promise.race([ready, new Promise((r) => setTimeout(r, tools.version === 2 ? 1000 : 150))]);
    return {
      name: spec.name,
      read: () => value,
      onChange: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      close: async () => {
        listeners.clear();
        await this.stopChild(child);
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.stopChild(c)));
  }

  private async detect(): Promise<Tools> {
    if (this.tools) return this.tools;
    const versionOut = await run(this.tool('gpioset'), ['--version']).catch((error: unknown) => {
      throw new KeywayError(ErrorCode.HardwareUnavailable, 'cannot run gpioset: install the Debian package "gpiod" (libgpiod tools) or choose the onoff binding', { cause: error });
    });
    const version = parseToolsVersion(versionOut.stdout + versionOut.stderr);
    if (!version) throw new KeywayError(ErrorCode.HardwareUnavailable, `unrecognised libgpiod version: ${versionOut.stdout.trim()}`);
    const help = version === 2 ? await run(this.tool('gpioset'), ['--help']).then((r) => r.stdout, () => '') : '';
    const chips = parseGpiodetect((await run(this.tool('gpiodetect'), []).catch(() => ({ stdout: '' }))).stdout);
    const chip = this.pickChip(chips);
    await assertReadWrite(join(this.options.devRoot ?? '/dev', chip), 'GPIO character device', this.options.probe ?? realProbe);
    this.tools = { version, interactive: help.includes('--interactive'), chip };
    this.log.info({ version, interactive: this.tools.interactive, chip }, 'using libgpiod tools');
    return this.tools;
  }

  private pickChip(chips: DetectedChip[]): string {
    const wanted = this.options.chip;
    if (wanted !== undefined) return chips.find((c) => c.label === wanted)?.name ?? wanted;
    for (const label of HEADER_CHIP_LABELS) {
      const chip = chips.find((c) => c.label === label);
      if (chip) return chip.name;
    }
    const found = chips.map((c) => `${c.name} [${c.label}]`).join(', ') || 'none';
    throw new KeywayError(ErrorCode.HardwareUnavailable, `no Raspberry Pi header GPIO chip found (gpiodetect: ${found}); set gpio.chip`);
  }

  private async hold(tools: Tools, spec: OutputSpec, level: 0 | 1): Promise<ChildProcess> {
    const args = gpiosetArgs(tools.version, tools.chip, spec.pin, level);
    const child = spawn(this.tool('gpioset'), tools.interactive ? args : args.filter((a) => a !== '--interactive'), {
      stdio: [tools.interactive ? 'pipe' : 'ignore', 'ignore', 'pipe'],
    });
    this.track(child, spec);
    // A failed request exits at once; give it a moment so the error surfaces here, not later.
    const exited = await new Promise<number | null | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 100);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
      child.once('error', () => {
        clearTimeout(timer);
        resolve(-1);
      });
    });
    if (exited !== undefined) throw this.toolError('gpioset', spec, new Error(`gpioset exited with ${String(exited)}`));
    return child;
  }

  private track(child: ChildProcess, spec: LineLike): void {
    this.children.add(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('exit', (code, signal) => {
      this.children.delete(child);
      if (code && signal === null) this.log.error({ line: spec.name, code, stderr: stderr.trim() }, 'libgpiod tool exited');
    });
    child.on('error', (error) => this.log.error({ err: error, line: spec.name }, 'libgpiod tool failed'));
  }

  /** Waits up to `graceMs` for the child to exit by itself, then signals it. */
  private stopChild(child: ChildProcess, graceMs = 0): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGTERM'), graceMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private tool(name: string): string {
    return this.options.toolsDir ? join(this.options.toolsDir, name) : name;
  }

  private toolError(tool: string, spec: LineLike, cause: unknown): KeywayError {
    return new KeywayError(
      ErrorCode.HardwareUnavailable,
      `${tool} could not use GPIO ${spec.pin} (${spec.name}); another program may hold the line, or the agent lacks access to the chip`,
      { cause, details: { pin: spec.pin } },
    );
  }
}

type LineLike = Pick<OutputSpec, 'name' | 'pin'>;
