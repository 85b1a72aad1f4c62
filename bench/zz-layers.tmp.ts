import './node-default.js';
import { createCryptoProvider } from '../src/crypto/index.js';
import { openChannelPair } from './workloads.js';
import { EncryptedMessage } from '../src/wire/encrypted-message.js';
import { kdfChain } from '../src/ratchet/kdf.js';
const c = createCryptoProvider('node');
const N = 30000;
const p = new Uint8Array(1024);
const ad = new Uint8Array(104);
const res: Record<string, number[]> = {};
async function time(name: string, f: () => Promise<void>) { const t0 = performance.now(); await f(); const us = (performance.now() - t0) * 1000 / N; (res[name] ??= []).push(us); }
const [a, b] = await openChannelPair(c);
const ra = (a as any);
const fl = async () => {
  let ckA = c.randomBytes(32); let ckB = new Uint8Array(ckA);
  for (let i = 0; i < N; i++) {
    const [mk, n2] = kdfChain(c, ckA) as any; ckA.fill(0); ckA = n2;
    const nonce = c.randomBytes(12); const ct = c.aeadSeal(mk, nonce, p, ad); mk.fill(0);
    const [mk2, n3] = kdfChain(c, ckB) as any; ckB.fill(0); ckB = n3 as any;
    c.aeadOpen(mk2, nonce, ct, ad); mk2.fill(0);
  }
};
for (let r = 0; r < 5; r++) {
  await time('floor', fl);
  await time('channel no serialize', async () => { for (let i = 0; i < N; i++) { await b.receive(await a.send(p)); } });
  await time('channel serialize', async () => { for (let i = 0; i < N; i++) { await b.receive((await a.send(p)).serialize()); } });
  const m = await a.send(p); const w = m.serialize(); await b.receive(w);
  await time('serialize+deserialize only', async () => { for (let i = 0; i < N; i++) { EncryptedMessage.deserialize(m.serialize()); } });
}
for (const [k, v] of Object.entries(res)) { v.sort((x, y) => x - y); console.log(k.padEnd(30), v[2]!.toFixed(2), 'us/msg'); }
