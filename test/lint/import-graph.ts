/**
 * The module graph of src/, read with the TypeScript parser: every relative import, `import type`,
 * `export ... from`, `import('...')` and `import('...').T` is an edge, since a type-only circle
 * still ties two modules' designs together. Cycles are found as strongly connected components
 * (Tarjan), each shown by one shortest cycle through it.
 *
 * Also runnable on its own: `node dist/test/lint/import-graph.js [dir]` lists every cycle in dir
 * (default src/), and the import graph with `--edges`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** Module path (relative to the scanned directory, with "/") to the modules it imports. */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

/** Every module specifier in a TypeScript source, type-only ones included. */
export function specifiersOf(source: string, fileName = 'module.ts'): string[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push(node.moduleSpecifier.text);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      found.push(node.moduleReference.expression.text);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      found.push(node.argument.literal.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteralLike(arg)) found.push(arg.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/**
 * The graph of a set of sources (path -> text): relative specifiers resolved, `.js` read as `.ts`, outside targets left
 * out.
 */
export function graphOf(sources: ReadonlyMap<string, string>): ImportGraph {
  const graph = new Map<string, string[]>();
  for (const [path, text] of sources) {
    const targets = new Set<string>();
    for (const spec of specifiersOf(text, path)) {
      if (!spec.startsWith('.')) continue;
      const target = join(dirname(path), spec).split(sep).join('/').replace(/\.js$/, '.ts');
      if (sources.has(target)) targets.add(target);
      else if (sources.has(`${target}.ts`)) targets.add(`${target}.ts`);
      else if (sources.has(`${target}/index.ts`)) targets.add(`${target}/index.ts`);
    }
    graph.set(path, [...targets].sort());
  }
  return graph;
}

/** Every .ts file under dir (declaration files excluded), keyed by its path relative to dir. */
export function readSources(dir: string): Map<string, string> {
  const sources = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
    const full = join(entry.parentPath, entry.name);
    sources.set(relative(dir, full).split(sep).join('/'), readFileSync(full, 'utf8'));
  }
  return sources;
}

/** The strongly connected components that hold a cycle (two or more modules, or one importing itself), each sorted. */
export function cyclicComponents(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  const connect = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop() as string;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(component.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v);
  return components.sort((a, b) => (a[0] as string).localeCompare(b[0] as string));
}

/** A shortest cycle from `start` back to itself, as the list of modules on it (start first and last); null if none. */
export function shortestCycle(graph: ImportGraph, start: string): string[] | null {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i] as string;
    for (const w of graph.get(v) ?? []) {
      if (w === start) {
        const back: string[] = [];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = parent.get(u)) back.push(u);
        return [start, ...back.reverse(), start];
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return null;
}

/** One line per cyclic component: a shortest cycle through it, and every module it holds. */
export function describeCycles(graph: ImportGraph): string[] {
  return cyclicComponents(graph).map((component) => {
    const cycle = shortestCycle(graph, component[0] as string) as string[];
    const rest = component.filter((m) => !cycle.includes(m));
    return `${cycle.join(' -> ')}${rest.length > 0 ? ` (the same circle also holds ${rest.join(', ')})` : ''}`;
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const dir = args.find((a) => !a.startsWith('--')) ?? fileURLToPath(new URL('../../../src/', import.meta.url));
  const graph = graphOf(readSources(dir));
  if (args.includes('--edges')) for (const [from, to] of graph) for (const t of to) console.log(`${from} -> ${t}`);
  const cycles = describeCycles(graph);
  for (const line of cycles) console.log(line);
  console.log(`${graph.size} modules, ${cycles.length} import circles`);
  process.exitCode = cycles.length > 0 ? 1 : 0;
}
