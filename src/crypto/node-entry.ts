/**
 * The package's entry point under Node (package.json `exports`: the `node` condition of `.`, and
 * `./node`): the whole SDK, with the node:crypto backend registered as the `node` preset and made
 * the default, and undici's WebSocket as the relay's fallback on Node 20. Browsers and workerd
 * resolve `.` to `index.js` instead and never load node:crypto or undici.
 */
import { setWebSocketFallback } from '../net/relay-client.js';
import { setDefaultCryptoPreset } from './index.js';
import { NODE_PRESET, nodeAead, nodeCurves, nodeHashes } from './node.js';

setDefaultCryptoPreset('node');
// Node 20 has no global WebSocket: the relay client then uses undici's, an optional peer dependency
// loaded on first connect (Node 22+ has its own and never loads it).
setWebSocketFallback(async () => {
  const undici = await import('undici').catch(() => undefined);
  return undici?.WebSocket as (new (url: string) => import('../net/relay-client.js').WebSocketLike) | undefined;
});

export * from '../index.js';
export { NODE_PRESET, nodeAead, nodeCurves, nodeHashes };
export { defaultCryptoPreset, registerCryptoPreset, setDefaultCryptoPreset, type AeadBackend } from './index.js';
