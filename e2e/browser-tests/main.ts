import { installPageLog } from '../../demo/src/page-log.js';
import { runAll, setFile, type CaseResult } from './vitest-shim.js';

installPageLog();

// The SDK's own test files for IndexedDB storage, Web Locks and sessions, unchanged.
const files: [string, () => Promise<unknown>][] = [
  ['test/storage-indexeddb.test.ts', () => import('../../test/storage-indexeddb.test.ts')],
  ['test/storage-contract.test.ts', () => import('../../test/storage-contract.test.ts')],
  ['test/session-restart.test.ts', () => import('../../test/session-restart.test.ts')],
  ['test/session-manager.test.ts', () => import('../../test/session-manager.test.ts')],
  ['test/storage-locks.test.ts', () => import('../../test/storage-locks.test.ts')],
  ['README.md', () => import('./readme.test.ts')],
];

const out = document.getElementById('results')!;
const status = document.getElementById('status')!;

async function main(): Promise<{ results: CaseResult[]; userAgent: string }> {
  for (const [file, load] of files) {
    setFile(file);
    await load();
  }
  const results = await runAll((r) => {
    const li = document.createElement('li');
    li.className = r.status;
    li.textContent = `${r.status === 'passed' ? '✔' : r.status === 'failed' ? '✘' : '–'} ${r.file} › ${r.name} (${r.ms} ms)${r.error ? ` — ${r.error}` : ''}`;
    out.append(li);
  });
  const failed = results.filter((r) => r.status === 'failed').length;
  const skipped = results.filter((r) => r.status === 'skipped').length;
  status.textContent = `${results.length - failed - skipped} passed, ${failed} failed, ${skipped} skipped in ${navigator.userAgent}`;
  return { results, userAgent: navigator.userAgent };
}

const done = main();
(globalThis as unknown as { browserTests: Promise<unknown> }).browserTests = done;
done.then(
  () => (document.body.dataset.done = 'true'),
  (error: unknown) => {
    status.textContent = `could not run: ${(error as Error)?.stack ?? String(error)}`;
    document.body.dataset.done = 'error';
  },
);
