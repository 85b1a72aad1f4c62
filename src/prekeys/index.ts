export { PreKeysClosedError } from './errors.js';
export {
  MAX_ONE_TIME_PRE_KEYS_PER_CALL,
  MIN_ONE_TIME_PRE_KEYS,
  SIGNED_PRE_KEY_MAX_AGE_MS,
  SIGNED_PRE_KEY_RETENTION_MS,
  TARGET_ONE_TIME_PRE_KEYS,
  UPKEEP_INTERVAL_MS,
} from './policy.js';
export { PreKeyManager, type PreKeyManagerOptions, type ResponderPreKeys } from './prekey-manager.js';
export { PreKeyUpkeep, type PreKeyUpkeepOptions } from './prekey-upkeep.js';
export type { UpkeepPolicy, UpkeepResult } from './upkeep.js';
