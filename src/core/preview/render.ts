/**
 * Render a preview template: parse it as YAML, fill `{{variable}}` inside scalar values through the
 * YAML library, and stringify. A title or branch full of `"`, `:`, `#`, `{` or newlines stays one
 * string value; it can never add keys or documents.
 */

import { isMap, parseAllDocuments, visit } from 'yaml';
import type { Document } from 'yaml';
import type { Scalar } from 'yaml';

export const TEMPLATE_VARIABLES = [
  'name',
  'namespace',
  'number',
  'branch',
  'branchSlug',
  'sha',
  'shortSha',
  'image',
  'repository',
  'tag',
  'digest',
  'repo',
  'author',
  'title',
] as const;

export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];
export type TemplateVars = Record<TemplateVariable, string>;

const PLACEHOLDER = /\{\{\s*([A-Za-z]+)\s*\}\}/g;
const KNOWN = new Set<string>(TEMPLATE_VARIABLES);

export type RenderResult = { ok: true; documents: Document[] } | { ok: false; errors: string[] };

/** Fill `{{variable}}` in one string; unknown names are reported, not left in. */
export function fill(text: string, vars: TemplateVars, unknown: Set<string>): string {
  return text.replace(PLACEHOLDER, (whole, key: string) => {
    if (!KNOWN.has(key)) {
      unknown.add(key);
      return whole;
    }
    return vars[key as TemplateVariable];
  });
}

/**
 * The template's documents with every scalar filled. `namespace` defaults to the name; a template
 * that sets `metadata.namespace` or `destination.namespace` to something else keeps its own.
 */
export function renderTemplate(template: string, vars: TemplateVars): RenderResult {
  const docs = parseAllDocuments(template, { prettyErrors: false });
  if (!Array.isArray(docs)) return { ok: false, errors: ['the template is empty'] };
  const errors: string[] = [];
  for (const d of docs) for (const e of d.errors) errors.push(`the template is not valid YAML: ${e.message.split('\n')[0] ?? ''}`);
  if (errors.length > 0) return { ok: false, errors };
  const unknown = new Set<string>();
  for (const doc of docs) {
    visit(doc, {
      Scalar(_key, node: Scalar) {
        if (typeof node.value === 'string' && node.value.includes('{{')) node.value = fill(node.value, vars, unknown);
      },
      Map(_key, node) {
        // `name: {{name}}` unquoted is a flow mapping, not a placeholder: say how to write it.
        if (node.flow && node.items.some((p) => isMap(p.key))) {
          errors.push('a {{variable}} must be quoted in the template ("{{name}}"), or YAML reads it as a mapping');
        }
      },
    });
  }
  if (unknown.size > 0) errors.push(`the template uses unknown variables: ${[...unknown].sort().join(', ')} (known: ${TEMPLATE_VARIABLES.join(', ')})`);
  if (errors.length > 0) return { ok: false, errors };
  const documents = docs.filter((d) => d.contents !== null);
  if (documents.length === 0) return { ok: false, errors: ['the template is empty'] };
  return { ok: true, documents };
}

/** Stringify rendered documents without line folding, so long values round-trip byte for byte. */
export function stringifyDocuments(documents: Document[]): string {
  return documents
    .map((d, i) => {
      const text = d.toString({ lineWidth: 0 });
      return i === 0 || text.startsWith('---') ? text : `---\n${text}`;
    })
    .join('');
}
