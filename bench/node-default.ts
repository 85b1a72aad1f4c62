/**
 * What the package's Node entry point does (src/crypto/node-entry.ts): register the node:crypto
 * backend as the `node` preset and make it the default. Imported first by bench/run.ts.
 */
import { setDefaultCryptoPreset } from '../src/crypto/index.js';
import '../src/crypto/node.js';

setDefaultCryptoPreset('node');
