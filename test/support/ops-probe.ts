/**
 * A throwaway event type owned and consumed by the `ops` account, `keyway.ops.<name>`, for tests that register schema
 * versions at run time and publish with them.
 */
export function opsProbeSchema(name: string, version: number): Record<string, unknown> {
  return {
    $schema: 'http://json-schema.org/draft-04/schema#',
    id: `https://keyway.dev/schemas/ops/${name}.v${version}.json`,
    type: 'object',
    properties: { n: { type: 'integer' } },
    'x-keyway': { type: `keyway.ops.${name}`, version, owner: 'ops', consumers: ['ops'], status: 'active' },
  };
}

/** An event of that type and version, as an ops service would publish it. */
export function opsProbeEvent(name: string, version: number, id: string): Record<string, unknown> {
  return {
    specversion: '1.0',
    id,
    source: 'keyway://service/ops',
    type: `keyway.ops.${name}`,
    time: new Date().toISOString(),
    dataschema: `https://keyway.dev/schemas/ops/${name}.v${version}.json`,
    datacontenttype: 'application/json',
    data: { n: 1 },
  };
}
