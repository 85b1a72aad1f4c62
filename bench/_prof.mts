import { oneWay1KiB } from './workloads.js';
import { createCryptoProvider } from '../src/crypto/index.js';
import '../src/crypto/node-entry.js';
const c = createCryptoProvider('node');
await oneWay1KiB(c, 20000);
const r = await oneWay1KiB(c, 200000);
console.log(c.name, (r.operations / r.seconds).toFixed(0), 'msg/s');
