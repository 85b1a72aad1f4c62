// README.md's code runs as written: its ```ts blocks, extracted (test/readme-blocks.ts), are
// type-checked with --strict against the package as built and published (dist/ and its exports
// map, imported by name), then run in Node against a local Worker; each console.log's `// → …`
// comment is what it must print. ```ts browser blocks are type-checked here and run in the
// browsers by e2e scenario 7 (e2e/browser-tests/readme.test.ts).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalWorker, type LocalWorker } from '../scripts/local-worker.mjs';
import { browserModule, matchesPromise, nodeProgram, promisedOutput, readmeBlocks } from './readme-blocks.js';

const root = resolve(__dirname, '..');
const blocks = readmeBlocks(readFileSync(join(root, 'README.md'), 'utf8'));
const app = mkdtempSync(join(tmpdir(), 'agentmesh-readme-'));
let worker: LocalWorker;

/** A project that depends on the built package: node_modules/agentmesh-e2e holds package.json and dist/. */
function installBuiltPackage(): void {
  const pkg = join(app, 'node_modules', 'agentmesh-e2e');
  mkdirSync(pkg, { recursive: true });
  for (const entry of readdirSync(join(root, 'node_modules'))) {
    if (!entry.startsWith('.')) symlinkSync(join(root, 'node_modules', entry), join(app, 'node_modules', entry));
  }
  copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], { cwd: root, stdio: 'pipe' });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'readme-app', private: true, type: 'module' }));
}

function typecheck(file: string, lib: string): string {
  const run = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext',
      '--moduleResolution', 'nodenext', '--lib', lib, '--types', 'node', '--skipLibCheck', file,
    ],
    { cwd: app, encoding: 'utf8' },
  );
  return `${run.stdout}${run.stderr}`.trim();
}

beforeAll(async () => {
  installBuiltPackage();
  worker = await startLocalWorker();
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  rmSync(app, { recursive: true, force: true });
});

describe('README.md', () => {
  it('has the sections a reader follows, in Node and in the browser', () => {
    expect(blocks.filter((b) => b.target === 'node').length).toBeGreaterThanOrEqual(5);
    expect(blocks.filter((b) => b.target === 'browser').length).toBeGreaterThanOrEqual(1);
  });

  it('type-checks with --strict against the built package', () => {
    writeFileSync(join(app, 'readme.ts'), nodeProgram(blocks, 'http://127.0.0.1:1'));
    expect(typecheck('readme.ts', 'es2022')).toBe('');
    blocks
      .filter((b) => b.target === 'browser')
      .forEach((b, i) => {
        writeFileSync(join(app, `readme-browser-${i}.ts`), browserModule(b));
        expect(typecheck(`readme-browser-${i}.ts`, 'es2022,dom'), `README.md:${b.line}`).toBe('');
      });
  }, 120_000);

  it('runs in Node as written and prints what its comments say', () => {
    writeFileSync(join(app, 'readme-run.ts'), nodeProgram(blocks, worker.url));
    const run = spawnSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), 'readme-run.ts'], {
      cwd: app,
      encoding: 'utf8',
      timeout: 90_000,
    });
    expect(run.stderr, 'stderr').toBe('');
    expect(run.status, run.stderr).toBe(0);
    const printed = run.stdout.trimEnd().split('\n');
    const promised = promisedOutput(blocks.filter((b) => b.target === 'node'));
    expect(printed.length, printed.join('\n')).toBe(promised.length);
    promised.forEach((p, i) => expect(matchesPromise(printed[i]!, p.text), `README.md:${p.line} promises "${p.text}", printed "${printed[i]}"`).toBe(true));
  }, 120_000);
});
