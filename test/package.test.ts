// What `npm pack` ships: the library (dist/ from tsc and the browser bundle), its README and its
// LICENSE, and nothing the demo, the tests or the benchmarks build.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { license: string; files: string[] };
const scratch = mkdtempSync(join(tmpdir(), 'agentmesh-pack-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function packedFiles(dir: string): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path).sort();
}

const LIBRARY = /^(package\.json|README\.md|LICENSE|dist\/(?!demo\/|demo-tests\/)[\w./-]+\.(js|d\.ts|map))$/;

describe('the npm package', () => {
  it('ships only the library even when demo and test builds sit in dist/', () => {
    writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'pack-probe', version: '0.0.0', files: pkg.files }));
    for (const f of ['README.md', 'LICENSE']) copyFileSync(join(root, f), join(scratch, f));
    const tree = [
      'dist/index.js', 'dist/index.d.ts', 'dist/browser/agentmesh-e2e.js',
      'dist/demo/index.html', 'dist/demo/assets/index.js', 'dist/demo-tests/index.html',
      'build/demo/index.html', 'demo/src/main.ts', 'e2e/run.mjs', 'test/x.test.ts', 'bench/run.ts', '.wrangler/state/db.sqlite',
    ];
    for (const f of tree) {
      mkdirSync(dirname(join(scratch, f)), { recursive: true });
      writeFileSync(join(scratch, f), '// probe\n');
    }
    expect(packedFiles(scratch)).toEqual(['LICENSE', 'README.md', 'dist/browser/agentmesh-e2e.js', 'dist/index.d.ts', 'dist/index.js', 'package.json']);
  });

  it('packs nothing but library files from this checkout, with a LICENSE that matches package.json', () => {
    const files = packedFiles(root);
    expect(files.filter((f) => !LIBRARY.test(f))).toEqual([]);
    expect(files).toContain('LICENSE');
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n/);
  });

  it('builds the demo and the in-browser test page outside dist/', () => {
    for (const config of ['demo/vite.config.ts', 'e2e/browser-tests/vite.config.ts']) {
      const text = readFileSync(join(root, config), 'utf8');
      expect(text, config).toMatch(/outDir: fileURLToPath\(new URL\('(\.\.\/)+build\//);
    }
  });
});
