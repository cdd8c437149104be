/**
 * Argument builders and output parsers for the libgpiod command-line tools, v1 (Debian
 * bookworm, 1.6.x) and v2 (trixie and newer Raspberry Pi OS, 2.x). Pure functions, so both
 * dialects are tested without hardware. Active-low is applied by the binding, not the tools:
 * the tools' edge semantics for active-low lines differ between versions.
 */
export type GpiodVersion = 1 | 2;

/** Parses `gpioset --version` ("gpioset (libgpiod) v1.6.3" / "gpioset (libgpiod) v2.1"). */
export function parseToolsVersion(output: string): GpiodVersion | undefined {
  const m = /libgpiod\)?\s*v?(\d+)\./.exec(output);
  if (!m) return undefined;
  const major = Number(m[1]);
  return major === 1 ? 1 : major >= 2 ? 2 : undefined;
}

export interface DetectedChip {
  name: string;
  label: string;
  lines: number;
}

/** Parses `gpiodetect` lines: "gpiochip0 [pinctrl-rp1] (54 lines)". Same in v1 and v2. */
export function parseGpiodetect(output: string): DetectedChip[] {
  const chips: DetectedChip[] = [];
  for (const line of output.split('\n')) {
    const m = /^(gpiochip\d+)\s+\[([^\]]*)\]\s+\((\d+) lines\)/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined && m[3]) chips.push({ name: m[1], label: m[2], lines: Number(m[3]) });
  }
  return chips;
}

/**
 * Holds an output at `level` until told otherwise. v2 runs interactively (further levels go
 * to stdin as `set <offset>=<level>` without releasing the line); v1 has no interactive mode,
 * so it holds until signalled and a change respawns it.
 */
export function gpiosetArgs(version: GpiodVersion, chip: string, offset: number, level: 0 | 1): string[] {
  return version === 2 ? ['--interactive', '--chip', chip, `${offset}=${level}`] : ['--mode=signal', chip, `${offset}=${level}`];
}

export function gpiosetInteractiveLine(offset: number, level: 0 | 1): string {
  return `set ${offset}=${level}\n`;
}

export function gpiogetArgs(version: GpiodVersion, chip: string, offset: number): string[] {
  return version === 2 ? ['--numeric', '--chip', chip, String(offset)] : [chip, String(offset)];
}

export function parseGpioget(output: string): 0 | 1 | undefined {
  const t = output.trim();
  if (t === '1' || /=active$/.test(t)) return 1;
  if (t === '0' || /=inactive$/.test(t)) return 0;
  return undefined;
}

/** Edge monitor printing one line per event: "<offset> <edge>". v2 prints a banner once it listens. */
export function gpiomonArgs(version: GpiodVersion, chip: string, offset: number): string[] {
  return version === 2
    ? ['--banner', '--chip', chip, '--edges', 'both', '--format', '%o %E', String(offset)]
    : ['--format=%o %e', chip, String(offset)];
}

/** Physical level after the edge in one gpiomon line, or undefined for noise. */
export function parseGpiomonLine(version: GpiodVersion, line: string): { offset: number; level: 0 | 1 } | undefined {
  const m = /^\s*(\d+)\s+(\S+)\s*$/.exec(line);
  if (!m) return undefined;
  const edge = m[2] ?? '';
  // v1 %e: 1 rising, 0 falling. v2 %E: "rising"/"falling".
  const rising = version === 1 ? edge === '1' : edge === 'rising';
  const falling = version === 1 ? edge === '0' : edge === 'falling';
  if (!rising && !falling) return undefined;
  return { offset: Number(m[1]), level: rising ? 1 : 0 };
}

/** v2's `--banner` line, printed once the line is requested and edges will be seen. */
export function isGpiomonBanner(line: string): boolean {
  return /^Monitoring line/.test(line.trim());
}
