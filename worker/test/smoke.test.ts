import { SELF } from 'cloudflare:test';
import { expect, it } from 'vitest';

it('health', async () => {
  const res = await SELF.fetch('http://relay.test/v1/health');
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ ok: true });
});
