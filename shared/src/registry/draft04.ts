import AjvDraft04 from 'ajv-draft-04';
import addFormats from 'ajv-formats';

/**
 * The reference draft-04 validator (ajv + ajv-draft-04). `x-keyway` is Keyway's metadata keyword; other unknown
 * keywords are allowed because draft-04 says validators ignore them.
 */
export function createDraft04Ajv(): AjvDraft04 {
  const ajv = new AjvDraft04({ allErrors: true, strict: false, validateSchema: false, useDefaults: false });
  addFormats(ajv);
  return ajv;
}

export interface ValidationIssue {
  path: string;
  message: string;
}

interface AjvLikeError {
  instancePath: string;
  message?: string;
  keyword: string;
  params: Record<string, unknown>;
}

/** Turns ajv errors into `{path, message}` with the path in JSON Pointer form, naming the missing property. */
export function toIssues(errors: readonly AjvLikeError[] | null | undefined, prefix = ''): ValidationIssue[] {
  return (errors ?? []).map((e) => {
    let path = `${prefix}${e.instancePath}`;
    if (e.keyword === 'required' && typeof e.params.missingProperty === 'string') {
      path = `${path}/${e.params.missingProperty}`;
    }
    if (e.keyword === 'additionalProperties' && typeof e.params.additionalProperty === 'string') {
      path = `${path}/${e.params.additionalProperty}`;
    }
    return { path: path || '/', message: e.message ?? e.keyword };
  });
}
