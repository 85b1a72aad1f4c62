import { SELF } from 'cloudflare:test';
import { it } from 'vitest';
import { BASE, registeredAgent } from './helpers.js';
it('timing', async () => {
  const bob = await registeredAgent();
  let t = Date.now();
  for (let i = 0; i < 300; i++) {
    const res = await SELF.fetch(`${BASE}/v1/agents/${bob.did}/presence`, { headers: { 'cf-connecting-ip': '203.0.113.9' } });
    if (i % 50 === 0) { console.log(i, Date.now() - t); t = Date.now(); }
  }
});
