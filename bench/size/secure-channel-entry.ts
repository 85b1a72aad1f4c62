// What an app needs for one SecureChannel: the channel, the X3DH key manager, the bundle and
// establishment codecs, the default crypto provider (noble + WebCrypto).
export { SecureChannel } from '../../src/channel/secure-channel.js';
export { X3DHKeyManager } from '../../src/x3dh/key-manager.js';
export { decodeBundle, encodeBundle } from '../../src/x3dh/bundle.js';
export { decodeEstablishment, encodeEstablishment } from '../../src/channel/establishment.js';
export { createCryptoProvider } from '../../src/crypto/index.js';
