import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSimulatedGarage, type SimulatedGarage } from '@keyway/hardware-sim';
import type { HubKeyPair } from '@keyway/shared/grants';
import { validateConfig, type AgentConfigInput } from '@keyway/agent/config';
import { DoorController } from '@keyway/agent/door';
import { Agent, type KeypadSource } from '@keyway/agent/runtime';

/** A keypad the test types on. */
export class TestKeypad implements KeypadSource {
  private readonly listeners = new Set<(pin: string) => void>();
  onEntry(listener: (pin: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  type(pin: string): void {
    for (const l of this.listeners) l(pin);
  }
}

export interface AgentHarness {
  agent: Agent;
  garage: SimulatedGarage;
  keypad: TestKeypad;
  dataDir: string;
  dispose(): Promise<void>;
}

/** A real agent (SQLite file, mqtt.js, door controller) on a simulated garage with a fast door. */
export async function startAgentHarness(brokerUrl: string, hub: HubKeyPair, overrides: Partial<AgentConfigInput> = {}): Promise<AgentHarness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyway-agent-'));
  const parsed = validateConfig({ version: 1, deviceId: 'garage-1', dataDir, broker: { url: brokerUrl }, hubPublicKey: hub.publicKeyPem, ...overrides });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  const garage = createSimulatedGarage({ travelMs: 300 });
  const door = new DoorController({ io: garage.openIo(), config: { pulseMs: 100, pressGapMs: 50, startTimeoutMs: 500, travelTimeoutMs: 3000 } });
  const keypad = new TestKeypad();
  const agent = new Agent({ config: parsed.config, door, keypad });
  await agent.start();
  return {
    agent,
    garage,
    keypad,
    dataDir,
    async dispose() {
      await agent.stop();
      await garage.dispose();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
