// README.md's ```ts browser blocks, run as written in this browser against the local Worker
// (test/readme.test.ts type-checks them and runs the Node blocks).
import { describe, expect, it } from 'vitest';
import cases from 'virtual:readme-browser-cases';

async function workerUrl(): Promise<string> {
  const res = await fetch('/config.json', { cache: 'no-store' });
  return ((await res.json()) as { workerUrl: string }).workerUrl;
}

describe('README.md in the browser', () => {
  it('has browser blocks', () => {
    expect(cases.length).toBeGreaterThan(0);
  });
  for (const c of cases) {
    it(`README.md:${c.line} (${c.section}) runs as written`, async () => {
      await c.run(await workerUrl());
    });
  }
});
