/**
 * A YAML file kept as its lossless CST, so that edits touch only the scalars they set:
 * comments, quoting, order, blank lines, anchors, separators and CRLF all come back byte for byte.
 */

import { CST, Composer, Parser, isScalar, parseAllDocuments } from 'yaml';
import type { Document, Scalar } from 'yaml';

export type YamlPath = (string | number)[];

export interface YamlSource {
  text: string;
  tokens: CST.Token[];
  docs: Document.Parsed[];
  /** Parse errors, as messages; a file with errors is never edited. */
  errors: string[];
}

export function parseYamlSource(text: string): YamlSource {
  const tokens = [...new Parser().parse(text)];
  const docs = [...new Composer({ keepSourceTokens: true }).compose(tokens)] as Document.Parsed[];
  const errors = docs.flatMap((d) => d.errors.map((e) => e.message));
  return { text, tokens, docs, errors };
}

/** How a new value would be written in place of an existing scalar. */
function styleFor(node: Scalar, value: string): Scalar.Type | undefined {
  if (node.type === 'PLAIN') {
    // A plain `1.10` would read back as the number 1.1: quote whatever would not stay this string.
    const roundTrip: unknown = parseAllDocuments(value)[0]?.toJS();
    if (roundTrip !== value) return 'QUOTE_DOUBLE';
    return undefined;
  }
  if (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') return 'QUOTE_DOUBLE';
  return undefined;
}

export interface ScalarEdit {
  node: Scalar;
  value: string;
}

/** Apply scalar edits through the CST and render the file again. Nodes must come from `src`. */
export function setScalars(src: YamlSource, edits: ScalarEdit[]): string {
  for (const { node, value } of edits) {
    const token = node.srcToken;
    if (!token || !CST.isScalar(token)) throw new Error('scalar has no source token');
    const type = styleFor(node, value);
    CST.setScalarValue(token, value, type ? { type } : undefined);
  }
  return src.tokens.map((t) => CST.stringify(t)).join('');
}

/** The scalar at `path` in document `doc`, if it is one. */
export function scalarAt(src: YamlSource, doc: number, path: YamlPath): Scalar | undefined {
  const node = src.docs[doc]?.getIn(path, true);
  return isScalar(node) ? node : undefined;
}

/** The line ending the file uses (CRLF when its first line break is CRLF). */
export function eolOf(text: string): string {
  const i = text.indexOf('\n');
  return i > 0 && text[i - 1] === '\r' ? '\r\n' : '\n';
}

/** Column (0-based) of a source offset. */
export function columnOf(text: string, offset: number): number {
  return offset - (text.lastIndexOf('\n', offset - 1) + 1);
}

/** Offset just past the line break that ends the line containing `offset` (or the end of text). */
export function endOfLine(text: string, offset: number): number {
  const nl = text.indexOf('\n', offset);
  return nl < 0 ? text.length : nl + 1;
}
