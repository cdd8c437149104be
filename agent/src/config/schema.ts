import { z } from 'zod';
import { relayPowerOnWarning } from '../hal/power-on.js';

const pin = z.number().int().min(0).max(53).describe('BCM GPIO number 0-53');
const path = z.string().min(1).describe('a file path');

/** Every key documents its range and default in one line (the error messages quote these). */
export const AgentConfigSchema = z.strictObject({
  version: z.literal(1).describe('config format version, 1'),
  deviceId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/).describe('1-64 of A-Z a-z 0-9 _ -, starting with a letter or digit'),
  dataDir: path.default('/var/lib/keyway').describe('directory for agent.db; default /var/lib/keyway'),
  firmware: z.string().max(64).default('keyway-agent/0.1.0'),
  connector: z.enum(['mqtt', 'aws-iot']).default('mqtt').describe('"mqtt" (mqtt.js, any broker) or "aws-iot" (aws-iot-device-sdk-v2, mutual TLS)'),
  broker: z.strictObject({
    url: z.string().regex(/^(mqtts?|wss?):\/\/[^\s]+$/).describe('mqtt://, mqtts://, ws:// or wss:// URL'),
    username: z.string().min(1).optional(),
    passwordFile: path.optional(),
    caPath: path.optional(),
    certPath: path.optional(),
    keyPath: path.optional(),
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4).describe('4 (MQTT 3.1.1) or 5; default 4'),
    keepaliveS: z.number().int().min(5).max(1200).default(30).describe('5-1200 s; default 30'),
  }),
  hubPublicKey: z
    .string()
    .refine((s) => s.includes('-----BEGIN PUBLIC KEY-----'), { message: 'must be an SPKI PEM ("-----BEGIN PUBLIC KEY-----")' })
    .optional()
    .describe('the hub Ed25519 public key as SPKI PEM'),
  hubPublicKeyPath: path.optional().describe('path to the hub public key PEM (instead of hubPublicKey)'),
  gpio: z
    .strictObject({
      // "gpiod" is not offered: its gpioset children could outlive a crashed agent holding the relay (see README).
      binding: z.enum(['sim', 'sysfs']).default('sim').describe('"sim" (the hardware simulator; the default) or "sysfs" (real GPIO through onoff)'),
      chipLabel: z
        .string()
        .min(1)
        .optional()
        .describe('label of the sysfs GPIO chip with the header pins (/sys/class/gpio/gpiochipN/label); default: a known Raspberry Pi label, else the only chip'),
      pins: z
        .strictObject({ relay: pin, warning: pin, closedSwitch: pin, openSwitch: pin, beam: pin })
        .default({ relay: 17, warning: 27, closedSwitch: 22, openSwitch: 23, beam: 24 })
        .refine((p) => new Set(Object.values(p)).size === 5, { message: 'every pin must be different' }),
      relayActiveLow: z.boolean().default(false),
      sensorsActiveLow: z.boolean().default(false),
      relayExternalPull: z
        .boolean()
        .default(false)
        .describe('true only when a resistor on the board holds the relay released from power-on (see WIRING.md)'),
    })
    .superRefine((g, ctx) => {
      // On real hardware, a relay pin whose reset pull energises the relay could move the door at every boot.
      if (g.binding === 'sim' || g.relayExternalPull) return;
      const warning = relayPowerOnWarning(g.pins.relay, g.relayActiveLow);
      if (warning) ctx.addIssue({ code: 'custom', path: ['pins', 'relay'], input: g.pins.relay, message: `${warning}; or set gpio.relayExternalPull: true if a resistor already holds it released` });
    })
    .prefault({}),
  door: z
    .strictObject({
      pulseMs: z.number().int().min(100).max(2000).default(500).describe('100-2000 ms; default 500'),
      warningMs: z.number().int().min(5000).max(60_000).default(5000).describe('5000-60000 ms (at least 5 s by 16 CFR 1211.14); default 5000'),
      autoCloseAfterOpenS: z.number().int().min(0).max(86_400).default(0).describe('0 (off) to 86400 s; default 0'),
      autoCloseAfterDeliveryS: z.number().int().min(10).max(3600).default(60).describe('10-3600 s; default 60'),
    })
    .prefault({}),
  outbox: z
    .strictObject({
      maxRows: z.number().int().min(100).max(50_000_000).default(1_000_000).describe('100-50000000 rows; default 1000000'),
      maxBytes: z.number().int().min(65_536).max(16 * 1024 ** 3).default(512 * 1024 ** 2).describe('65536 B to 16 GiB; default 512 MiB'),
    })
    .prefault({}),
  sync: z
    .strictObject({
      // The hub refuses larger batches by default (MAX_BATCH_EVENTS in @keyway/shared/wire).
      batchMaxEvents: z.number().int().min(1).max(500).default(500).describe('1-500; default 500'),
      batchMaxBytes: z.number().int().min(1024).max(1024 ** 2).default(256 * 1024).describe('1 KiB-1 MiB; default 256 KiB (use 128 KiB on AWS IoT)'),
      heartbeatS: z.number().int().min(5).max(86_400).default(60).describe('5-86400 s; default 60'),
    })
    .prefault({}),
  time: z
    .strictObject({
      toleranceS: z.number().int().min(0).max(3600).default(120).describe('clock-skew tolerance at grant edges, 0-3600 s; default 120'),
      driftPpm: z.number().min(1).max(10_000).default(200).describe('1-10000 ppm; default 200'),
    })
    .prefault({}),
  keypad: z
    .strictObject({
      serialPath: path.optional(),
      maxFailures: z.number().int().min(1).max(20).default(5).describe('1-20 wrong PINs before lockout; default 5'),
      lockoutS: z.number().int().min(10).max(86_400).default(300).describe('10-86400 s; default 300'),
    })
    .prefault({}),
})
  .refine((c) => c.hubPublicKey !== undefined || c.hubPublicKeyPath !== undefined, {
    message: 'one of hubPublicKey or hubPublicKeyPath is required (the hub key pinned at provisioning)',
    path: ['hubPublicKey'],
  })
  .refine((c) => c.connector !== 'aws-iot' || (c.broker.certPath !== undefined && c.broker.keyPath !== undefined && c.broker.url.startsWith('mqtts://')), {
    message: 'connector "aws-iot" needs broker.url mqtts://<endpoint>:8883 (or :443), broker.certPath and broker.keyPath',
    path: ['broker'],
  });

export type AgentConfig = z.infer<typeof AgentConfigSchema>;
export type AgentConfigInput = z.input<typeof AgentConfigSchema>;
