import { resolve } from 'node:path';
import ts from 'typescript';
import * as contracts from './index';
import { RUN_EVENT_TYPES } from './run-events';

/**
 * The wire contracts, pinned. A changed subject, a renamed run event or a payload field added, removed or retyped
 * fails here until the snapshot is updated on purpose (`jest -u`), so the change shows up in review as the contract
 * change it is.
 */

interface MethodLike {
  service: string;
  subject: string;
  request: { typeName: string };
  response: { typeName: string };
}

const isMethod = (value: unknown): value is MethodLike =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as MethodLike).subject === 'string' &&
  typeof (value as MethodLike).service === 'string';

/** Every request/reply method of every table the contracts export, as `Table.name: subject (Request → Response)`. */
function methodTables(): string[] {
  const lines: string[] = [];
  for (const [table, value] of Object.entries(contracts)) {
    if (typeof value !== 'object' || value === null) continue;
    for (const [name, method] of Object.entries(value as Record<string, unknown>)) {
      if (!isMethod(method)) continue;
      lines.push(`${table}.${name}: ${method.subject} (${method.request.typeName} → ${method.response.typeName})`);
    }
  }
  return lines.sort();
}

/**
 * A type written out in full (aliases expanded), so that a change anywhere inside a payload changes the text. An
 * optional field's `undefined` is left out: its `?` says it.
 */
function render(checker: ts.TypeChecker, type: ts.Type, depth = 0, optional = false): string {
  if (depth > 8) return '…';
  if (type.flags & ts.TypeFlags.Boolean) return 'boolean';
  if (type.isUnion()) {
    const members = type.types.filter((t) => !(optional && t.flags & ts.TypeFlags.Undefined));
    const parts = members
      .filter((t) => !(t.flags & ts.TypeFlags.BooleanLiteral))
      .map((t) => render(checker, t, depth + 1));
    if (members.some((t) => t.flags & ts.TypeFlags.BooleanLiteral)) parts.push('boolean');
    return parts.join(' | ');
  }
  if (type.flags & ts.TypeFlags.Object || type.isIntersection()) {
    const fields = checker.getPropertiesOfType(type).map((property) => {
      const isOptional = (property.flags & ts.SymbolFlags.Optional) !== 0;
      const shown = render(checker, checker.getTypeOfSymbol(property), depth + 1, isOptional);
      return `${property.name}${isOptional ? '?' : ''}: ${shown}`;
    });
    return `{ ${fields.join('; ')} }`;
  }
  return checker.typeToString(type);
}

function runEventCatalogue(): string[] {
  const file = resolve(__dirname, 'run-events.ts');
  const program = ts.createProgram([file], { strict: true, noEmit: true, skipLibCheck: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file) as ts.SourceFile;
  const catalogue = source.statements.find(
    (statement): statement is ts.InterfaceDeclaration =>
      ts.isInterfaceDeclaration(statement) && statement.name.text === 'RunEventCatalogue',
  );
  if (!catalogue) throw new Error('RunEventCatalogue not found');
  const type = checker.getTypeAtLocation(catalogue);
  return checker.getPropertiesOfType(type).map((event) => {
    const data = render(checker, checker.getTypeOfSymbol(event));
    return `${event.name}: ${data}`;
  });
}

describe('wire contracts', () => {
  it('pins every request/reply subject with its request and response messages', () => {
    expect(methodTables()).toMatchSnapshot();
  });

  it('pins the run event catalogue: every type and the shape of its data', () => {
    const catalogue = runEventCatalogue();
    expect(catalogue.map((line) => line.slice(0, line.indexOf(':')))).toEqual([...RUN_EVENT_TYPES]);
    expect(catalogue).toMatchSnapshot();
  });
});
