// README.md's code, as the suite runs it (test/readme.test.ts in Node, the browser test page for
// blocks fenced ```ts browser). Blocks fenced ```ts form one program in reading order, as a reader
// follows the sections; each ```ts browser block stands alone. Only two liberties are taken: the
// imports of all Node blocks are merged into one list, and the registry URL the README names is
// replaced by the local Worker's.

export interface ReadmeBlock {
  /** The `###`/`##` heading the block sits under. */
  section: string;
  target: 'node' | 'browser';
  /** 1-based line of the block's first code line in README.md. */
  line: number;
  code: string;
}

/** The URL README.md points agents at (`npm start` listens there). */
export const README_REGISTRY_URL = 'http://127.0.0.1:8787';
const MAX_BLOCKS = 64;

export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split('\n');
  const blocks: ReadmeBlock[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const heading = /^#{2,3} (.+)$/.exec(lines[i]!);
    if (heading) section = heading[1]!;
    const fence = /^```(\S*)\s*(.*)$/.exec(lines[i]!);
    if (!fence) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    if (end < 0) throw new Error(`README.md:${i + 1}: unclosed code fence`);
    if (fence[1] === 'ts' || fence[1] === 'typescript') {
      const flags = fence[2]!.split(/\s+/).filter(Boolean);
      if (flags.some((f) => f !== 'browser')) throw new Error(`README.md:${i + 1}: unknown fence flag in "${lines[i]}"`);
      blocks.push({ section, target: flags.includes('browser') ? 'browser' : 'node', line: i + 2, code: lines.slice(i + 1, end).join('\n') });
      if (blocks.length > MAX_BLOCKS) throw new Error(`README.md has more than ${MAX_BLOCKS} ts blocks`);
    }
    i = end;
  }
  return blocks;
}

interface Split {
  imports: Map<string, Set<string>>;
  body: string;
}

/** Separates a block's `import { … } from '…'` lines (the only import form the README uses) from its code. */
export function splitImports(block: ReadmeBlock): Split {
  const imports = new Map<string, Set<string>>();
  const body: string[] = [];
  for (const [k, line] of block.code.split('\n').entries()) {
    const m = /^import\s+\{([^}]*)\}\s+from\s+'([^']+)';\s*(\/\/.*)?$/.exec(line);
    if (m) {
      const names = imports.get(m[2]!) ?? new Set<string>();
      for (const n of m[1]!.split(',').map((s) => s.trim()).filter(Boolean)) names.add(n);
      imports.set(m[2]!, names);
    } else if (/^import\b/.test(line)) {
      throw new Error(`README.md:${block.line + k}: write imports as one line of import { … } from '…'`);
    } else {
      body.push(line);
    }
  }
  return { imports, body: body.join('\n') };
}

function importLines(imports: Map<string, Set<string>>): string {
  return [...imports].map(([from, names]) => `import { ${[...names].join(', ')} } from '${from}';`).join('\n');
}

/** Every Node block, in order, as one module that talks to `registryUrl`. */
export function nodeProgram(blocks: ReadmeBlock[], registryUrl: string): string {
  const imports = new Map<string, Set<string>>();
  const parts: string[] = [];
  for (const block of blocks.filter((b) => b.target === 'node')) {
    const split = splitImports(block);
    for (const [from, names] of split.imports) imports.set(from, new Set([...(imports.get(from) ?? []), ...names]));
    parts.push(`// README.md:${block.line} (${block.section})\n${withRegistry(split.body, JSON.stringify(registryUrl))}`);
  }
  return `${importLines(imports)}\n\n${parts.join('\n\n')}\n`;
}

/** One browser block as a module of its own (for type-checking), exporting nothing. */
export function browserModule(block: ReadmeBlock): string {
  return `${block.code}\nexport {};\n`;
}

/** The browser blocks as one module of `{ section, line, run(registryUrl) }` cases (e2e/browser-tests). */
export function browserCases(blocks: ReadmeBlock[]): string {
  const browser = blocks.filter((b) => b.target === 'browser');
  const out: string[] = [];
  const cases: string[] = [];
  browser.forEach((block, i) => {
    const split = splitImports(block);
    // Each block gets its own namespace so two blocks may import the same names.
    for (const [from, names] of split.imports) {
      out.push(`import { ${[...names].filter((n) => !n.startsWith('type ')).map((n) => `${n} as ${n}$${i}`).join(', ')} } from '${from}';`);
    }
    const rename = [...split.imports.values()].flatMap((names) => [...names].filter((n) => !n.startsWith('type ')));
    const prelude = rename.map((n) => `const ${n} = ${n}$${i};`).join(' ');
    cases.push(
      `{ section: ${JSON.stringify(block.section)}, line: ${block.line}, run: async (__registryUrl) => { ${prelude}\n${withRegistry(split.body, '__registryUrl')}\n} }`,
    );
  });
  return `${out.join('\n')}\nexport default [\n${cases.join(',\n')}\n];\n`;
}

function withRegistry(code: string, replacement: string): string {
  return code.split(`'${README_REGISTRY_URL}'`).join(replacement);
}

/** What a block's `console.log(…); // → text` lines promise to print, in order ("…" matches anything). */
export function promisedOutput(blocks: ReadmeBlock[]): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  for (const block of blocks) {
    block.code.split('\n').forEach((l, k) => {
      if (!/\bconsole\.log\(/.test(l)) return;
      const m = /\/\/ → (.*)$/.exec(l);
      if (!m) throw new Error(`README.md:${block.line + k}: a console.log in the README says what it prints (// → …)`);
      out.push({ line: block.line + k, text: m[1]!.trim() });
    });
  }
  return out;
}

export function matchesPromise(printed: string, promised: string): boolean {
  const pattern = promised.split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${pattern}$`).test(printed);
}
