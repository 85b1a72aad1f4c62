// The same names as secure-channel-entry.ts, imported as an application does: from the package
// root. What the root exports beyond them must tree-shake away.
export {
  SecureChannel,
  X3DHKeyManager,
  createCryptoProvider,
  decodeBundle,
  decodeEstablishment,
  encodeBundle,
  encodeEstablishment,
} from '../../src/index.js';
