import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as root from '../src/index.js';
import * as protocol from '../src/protocol.js';

// The runtime names of each package entry point, sorted. A change here is a change of the public
// API: make it on purpose, in the entry file (src/index.ts, src/protocol.ts) and in this list.

/** `agentmesh-e2e`: the application API. */
const ROOT = [
  'ActionNotAllowedError', 'AgentClosedError', 'AgentIdentity', 'AgentMeshError', 'AuthenticationError', 'BudgetExceededError', 'CRYPTO_PRESETS',
  'ChannelClosedError', 'ChannelConditionError', 'CompositeTrustProvider', 'CorruptRecordError',
  'DEFAULT_MAX_SKIP', 'DEFAULT_MAX_SKIPPED_KEYS', 'DEFAULT_STRANGER_BUDGET', 'DID_PREFIX', 'DeliveryFailedError', 'DoubleRatchet',
  'DurableObjectAgentStore', 'EncryptedMessage', 'EncryptedTrustBridge', 'HttpPreKeyStore',
  'IdentityMismatchError', 'IdentityNotFoundError', 'InMemoryPreKeyStore', 'InMemoryTrustNetwork',
  'IndexedDBAgentStore', 'InvalidBundleError', 'InvalidDidError', 'InvalidEstablishmentError',
  'InvalidFrameError', 'InvalidKeyError', 'InvalidMessageError', 'InvalidRecordError',
  'InvalidSignatureError', 'InvalidTrustFrameError', 'LEGACY_DID_PREFIX', 'MAX_DELIVERY_TRIES', 'MAX_TRUST_SCORE',
  'MIN_TRUST_SCORE', 'MemoryAgentStore', 'MeshAgent', 'MutexLocks', 'NoReceivingChainError', 'PolicyDeniedError',
  'PreKeyManager', 'PreKeyNotFoundError', 'PreKeysClosedError', 'PreKeyUpkeep', 'RatchetState', 'RatchetStateError', 'RegistryClient',
  'RegistryError', 'RegistryTrustProvider', 'RelayClient', 'RelayClosedError', 'RelayError',
  'RelayTrustTransport', 'ReplayedMessageError', 'RequestAuthError', 'SecureChannel',
  'SessionExistsError', 'SessionManager', 'SessionManagerClosedError', 'SessionNotFoundError',
  'StaticTrustProvider', 'StorageError', 'StorageSchemaError', 'StoreClosedError',
  'StoreConflictError', 'TooManySkippedMessagesError', 'TrustConfigError', 'TrustError',
  'TrustHandshake', 'TrustTransportError', 'TrustedChannel', 'WebLocks', 'X3DHKeyManager',
  'assertEd25519PublicKey', 'checkDidKey', 'createCryptoProvider', 'createInMemoryTransportPair', 'decodeBundle',
  'decodeEstablishment', 'defaultKnockPolicy', 'didBelongsToKey', 'didFromPublicKey', 'encodeBundle',
  'encodeEstablishment', 'fromBase64Any', 'fromHex', 'fromUtf8', 'getDefaultCryptoProvider',
  'isValidDid', 'isValidEd25519PublicKey', 'legacyDidFromPublicKey', 'parseDid', 'setDefaultCryptoProvider', 'toBase64Url',
  'toHex', 'utf8', 'webCryptoCurvesSupported',
];

/** `agentmesh-e2e/protocol`: what the registry and relay service shares with the SDK. */
const PROTOCOL = [
  'AUTH_SCHEME', 'AUTH_WINDOW_MS', 'CONNECT_METHOD', 'DEFAULT_MAX_FRAME_CHARS', 'FRAME_VERSION',
  'LIMITS', 'MAX_FRAME_DEPTH', 'MAX_ONE_TIME_PRE_KEYS_PER_CALL', 'MAX_UPLOAD_ONE_TIME_PRE_KEYS', 'MIN_ONE_TIME_PRE_KEYS',
  'SIGNED_PRE_KEY_MAX_AGE_MS', 'SIGNED_PRE_KEY_RETENTION_MS', 'TARGET_ONE_TIME_PRE_KEYS', 'UPKEEP_INTERVAL_MS', 'RELAY_ADDRESS', 'RELAY_CONTROL_TYPES',
  'ROUTED_FRAME_TYPES', 'RequestSigner', 'bodyDigest', 'canonicalJson', 'canonicalRequest',
  'checkAckFrame', 'checkEnvelope', 'checkFreshness', 'checkRoutedFrame', 'createFrame',
  'decodePreKeyUpload', 'encodePreKeyUpload', 'isRoutedType', 'isUuid', 'jsonNestingExceeds',
  'newFrameId', 'parseAuthorization', 'parseFrame', 'parseSignature', 'parseTimestamp',
  'readLimitedBytes', 'relayPath', 'replayKey', 'uploadFromKeyManager', 'verifySignature',
];

/** What the Node entry (`agentmesh-e2e` under the `node` condition, `agentmesh-e2e/node`) adds to the root. */
const NODE_EXTRA = [
  'NODE_PRESET', 'defaultCryptoPreset', 'nodeAead', 'nodeCurves', 'nodeHashes', 'registerCryptoPreset',
  'setDefaultCryptoPreset',
];

const sorted = (names: Iterable<string>) => [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** Names a README code block imports from `from`. */
function readmeImports(from: string): string[] {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const names = new Set<string>();
  const quoted = from.replace(/[/]/g, '\\/');
  for (const m of readme.matchAll(new RegExp(`import\\s*\\{([^}]*)\\}\\s*from\\s*'${quoted}'`, 'g'))) {
    for (const part of m[1]!.split(',')) {
      const name = part.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!;
      if (name) names.add(name);
    }
  }
  return sorted(names);
}

describe('package exports', () => {
  it('the root exports exactly the application API listed here', () => {
    expect(sorted(Object.keys(root))).toEqual(sorted(ROOT));
  });

  it('agentmesh-e2e/protocol exports exactly the shared registry and relay protocol listed here', () => {
    expect(sorted(Object.keys(protocol))).toEqual(sorted(PROTOCOL));
  });

  it('no name is exported by both the root and the protocol sub-path', () => {
    expect(ROOT.filter((name) => PROTOCOL.includes(name))).toEqual([]);
  });

  it('the Node entry is the root plus the node:crypto preset and its registry', async () => {
    const node = await import('../src/crypto/node-entry.js');
    expect(sorted(Object.keys(node))).toEqual(sorted([...ROOT, ...NODE_EXTRA]));
  });

  it("every name README.md imports from 'agentmesh-e2e' or a sub-path is exported there", () => {
    const fromRoot = readmeImports('agentmesh-e2e');
    expect(fromRoot.length).toBeGreaterThan(10);
    expect(fromRoot.filter((name) => !(name in root))).toEqual([]);
    expect(readmeImports('agentmesh-e2e/protocol').filter((name) => !(name in protocol))).toEqual([]);
  });
});
