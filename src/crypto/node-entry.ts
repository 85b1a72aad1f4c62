/**
 * The package's entry point under Node (package.json `exports`: the `node` condition of `.`, and
 * `./node`): the whole SDK, with the node:crypto backend registered as the `node` preset and made
 * the default. Browsers and workerd resolve `.` to `index.js` instead and never load node:crypto.
 */
import { setDefaultCryptoPreset } from './index.js';
import { NODE_PRESET, nodeAead, nodeCurves, nodeHashes } from './node.js';

setDefaultCryptoPreset('node');

export * from '../index.js';
export { NODE_PRESET, nodeAead, nodeCurves, nodeHashes };
export { defaultCryptoPreset, registerCryptoPreset, setDefaultCryptoPreset, type AeadBackend } from './index.js';
