import { z } from 'zod';

/** Registry metadata that sits beside each schema (the `x-keyway` object in the schema file). */
export const SchemaMetadataShape = z.strictObject({
  type: z.string().regex(/^keyway\.[a-z][a-z0-9-]*\.[A-Z][A-Za-z0-9]*$/, 'must be keyway.<domain>.<EventName>'),
  version: z.number().int().min(1),
  owner: z.string().min(1),
  consumers: z.array(z.string().min(1)),
  status: z.enum(['active', 'deprecated', 'retired']),
  sunset: z.string().regex(/^\d{4}-\d{2}-\d{2}(T.*)?$/, 'must be an ISO date').optional(),
  replacement: z.string().optional(),
  examples: z.array(z.record(z.string(), z.unknown())).optional(),
});
export type SchemaMetadata = z.infer<typeof SchemaMetadataShape>;
export type SchemaStatus = SchemaMetadata['status'];

export type JsonSchemaDocument = Record<string, unknown>;

export interface RegisteredSchema {
  type: string;
  version: number;
  /** The schema's `id`, which events carry as `dataschema`. */
  id: string;
  document: JsonSchemaDocument;
  meta: SchemaMetadata;
}
