import type { DigitalOutput } from '../hal/types.js';

/** What the guard listens on: the process, or an emitter standing in for it in tests. */
export interface SignalSource {
  on(event: 'SIGTERM' | 'SIGINT' | 'exit', listener: (...args: unknown[]) => void): unknown;
  off(event: 'SIGTERM' | 'SIGINT' | 'exit', listener: (...args: unknown[]) => void): unknown;
}

export interface RelayGuard {
  /** Resolves on the first SIGTERM or SIGINT, with its name: time for a graceful stop. */
  readonly stopRequested: Promise<string>;
  /** Removes every listener (after the graceful stop has finished). */
  dispose(): void;
}

export interface RelayGuardOptions {
  relay: DigitalOutput;
  say: (line: string) => void;
  source?: SignalSource;
  exit?: (code: number) => void;
}

/**
 * Keeps the relay released however the agent process ends. The first signal asks for a graceful stop (a pulse in
 * progress finishes, the relay is released, the database closed). A second signal during that stop no longer kills
 * the process with the relay possibly held: it releases the relay first, then exits. On any exit, a crash included
 * (Node emits `exit` after an uncaught exception), the relay is released once more.
 *
 * The bindings `keyway-agent run` opens (sysfs through onoff, and the simulator) set the line synchronously inside
 * `write`, so the release completes even inside an `exit` listener, where nothing asynchronous runs. The gpiod
 * binding (not selectable by `run`) holds a line through a `gpioset` child and would need a synchronous kill here.
 */
export function guardRelay(options: RelayGuardOptions): RelayGuard {
  const source = options.source ?? process;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const release = (): void => {
    try {
      void options.relay.write(false).catch(() => undefined);
    } catch {
      // Nothing more can be done while exiting; the binding opens the line released at the next start.
    }
  };
  let signalled: string | undefined;
  let resolveStop: (signal: string) => void = () => undefined;
  const stopRequested = new Promise<string>((resolve) => (resolveStop = resolve));
  const onSignal = (signal: unknown): void => {
    const name = String(signal);
    if (signalled === undefined) {
      signalled = name;
      options.say(`received ${name}; shutting down`);
      resolveStop(name);
      return;
    }
    release();
    options.say(`received ${name} again during shutdown; relay released, exiting now`);
    exit(130);
  };
  const onExit = (): void => release();
  source.on('SIGTERM', onSignal);
  source.on('SIGINT', onSignal);
  source.on('exit', onExit);
  return {
    stopRequested,
    dispose: () => {
      source.off('SIGTERM', onSignal);
      source.off('SIGINT', onSignal);
      source.off('exit', onExit);
    },
  };
}
