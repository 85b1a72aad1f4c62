export {
  CorruptRecordError,
  InvalidRecordError,
  StorageError,
  StorageSchemaError,
  StoreClosedError,
  StoreConflictError,
} from './errors.js';
export {
  checkJson,
  INITIAL_COUNTERS,
  STORAGE_LIMITS,
  wipeRecord,
  type IdentityRecord,
  type JsonObject,
  type JsonValue,
  type OneTimePreKeyRecord,
  type PreKeyCounters,
  type SessionRecord,
  type SignedPreKeyRecord,
} from './records.js';
export type { AgentStore, StoreWrite } from './store.js';
export { MemoryAgentStore } from './memory.js';
export { IndexedDBAgentStore, type IndexedDBStoreOptions } from './indexeddb.js';
export { IDB_SCHEMA_VERSION } from './indexeddb-schema.js';
export {
  DO_SCHEMA_VERSION,
  DurableObjectAgentStore,
  type DurableObjectKvLike,
  type DurableObjectStorageLike,
  type DurableObjectStoreOptions,
} from './durable-object.js';
export { RecordSealer, generateWrappingKey, type SealedValue } from './sealing.js';
export { defaultLocks, MutexLocks, WebLocks, type SessionLocks } from './locks.js';
