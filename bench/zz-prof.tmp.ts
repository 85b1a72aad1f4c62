import './node-default.js';
import { createCryptoProvider } from '../src/crypto/index.js';
import { oneWay1KiB } from './workloads.js';
const c = createCryptoProvider('node');
await oneWay1KiB(c, 5000);
const r = await oneWay1KiB(c, 60000);
console.log((r.operations / r.seconds).toFixed(0), 'msg/s');
