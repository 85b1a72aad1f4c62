import type { IDBPDatabase, IDBPTransaction } from 'idb';

/**
 * IndexedDB layout, by version. Each step migrates from the one before, so a database written by any
 * earlier version of this SDK opens at the current one with its data.
 *
 * v1  meta ('wrappingKey' → CryptoKey, 'counters' → PreKeyCounters), identity ('self'),
 *     signedPreKeys and oneTimePreKeys (keyPath keyId), sessions (keyPath peerDid).
 *     Secrets are SealedValue fields: identity.seed, *.privateKey, sessions.channel.
 * v2  sessions carry `revision`, so that a write can name the revision it read and a second writer
 *     without Web Locks is refused instead of forking the ratchet; v1 sessions become revision 1.
 */
export const IDB_SCHEMA_VERSION = 2;

export const STORES = {
  meta: 'meta',
  identity: 'identity',
  signedPreKeys: 'signedPreKeys',
  oneTimePreKeys: 'oneTimePreKeys',
  sessions: 'sessions',
} as const;

export const ALL_STORES = Object.values(STORES);

export const WRAPPING_KEY = 'wrappingKey';

type UpgradeTx = IDBPTransaction<unknown, string[], 'versionchange'>;

/**
 * Runs every step after `oldVersion` up to `targetVersion` inside the version-change transaction.
 * Only IndexedDB requests are awaited here: any other await would let the transaction commit early.
 */
export async function upgradeAgentDatabase(
  db: IDBPDatabase<unknown>,
  oldVersion: number,
  targetVersion: number,
  tx: UpgradeTx,
): Promise<void> {
  try {
    if (oldVersion < 1 && targetVersion >= 1) {
      db.createObjectStore(STORES.meta);
      db.createObjectStore(STORES.identity);
      db.createObjectStore(STORES.signedPreKeys, { keyPath: 'keyId' });
      db.createObjectStore(STORES.oneTimePreKeys, { keyPath: 'keyId' });
      db.createObjectStore(STORES.sessions, { keyPath: 'peerDid' });
    }
    if (oldVersion < 2 && targetVersion >= 2) {
      let cursor = await tx.objectStore(STORES.sessions).openCursor();
      while (cursor) {
        const value: unknown = cursor.value;
        // A record that is not an object is left as it is: reading it later reports it as corrupt.
        if (typeof value === 'object' && value !== null && !('revision' in value)) {
          await cursor.update({ ...(value as object), revision: 1 });
        }
        cursor = await cursor.continue();
      }
    }
  } catch (error) {
    // A failed step must not leave a half-migrated database behind at the new version number.
    try {
      tx.abort();
    } catch {
      // already finished
    }
    throw error;
  }
}
