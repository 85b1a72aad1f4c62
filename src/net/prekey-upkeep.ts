import type { OneTimePreKey, X3DHKeyManager } from '../x3dh/key-manager.js';
import { uploadFromKeyManager } from './prekey-upload.js';
import type { RegistryClient } from './registry-client.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface PreKeyUpkeepOptions {
  keyManager: X3DHKeyManager;
  registry: RegistryClient;
  /** Clock (ms since the epoch); give the key manager the same one. */
  now?: () => number;
  /** Top up when fewer than this many one-time pre-keys are left on the registry (default 5). */
  minOneTimePreKeys?: number;
  /** …to at least this many (default 10). */
  targetOneTimePreKeys?: number;
  /** Rotate the signed pre-key when it is this old (default 7 days). */
  signedPreKeyMaxAgeMs?: number;
  /**
   * Called after new private keys were generated and before their public halves are uploaded:
   * persist the key manager here, or a crash could publish keys nobody can use.
   */
  persist?: () => Promise<void>;
}

export interface UpkeepResult {
  rotatedSignedPreKey: boolean;
  uploadedOneTimePreKeys: number;
  /** One-time pre-keys on the registry after this run. */
  oneTimePreKeys: number;
}

/**
 * Keeps an agent's published pre-keys healthy: rotates the signed pre-key every 7 days and tops
 * up one-time pre-keys when fewer than 5 remain. `run()` does one check; `start()` repeats it.
 */
export class PreKeyUpkeep {
  readonly #o: Required<Omit<PreKeyUpkeepOptions, 'persist'>> & Pick<PreKeyUpkeepOptions, 'persist'>;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #running: Promise<UpkeepResult> | null = null;

  constructor(options: PreKeyUpkeepOptions) {
    this.#o = {
      now: Date.now,
      minOneTimePreKeys: 5,
      targetOneTimePreKeys: 10,
      signedPreKeyMaxAgeMs: 7 * DAY_MS,
      ...options,
    };
    if (this.#o.targetOneTimePreKeys < this.#o.minOneTimePreKeys) throw new RangeError('targetOneTimePreKeys < minOneTimePreKeys');
  }

  /** One check-and-fix; concurrent calls share the run in progress. */
  run(): Promise<UpkeepResult> {
    this.#running ??= this.#run().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #run(): Promise<UpkeepResult> {
    const { keyManager: km, registry, now } = this.#o;
    const status = await registry.preKeyStatus();
    const current = km.signedPreKey;
    const rotate = !current || now() - current.createdAt >= this.#o.signedPreKeyMaxAgeMs;
    if (rotate) await km.generateSignedPreKey();
    let fresh: OneTimePreKey[] = [];
    if (status.oneTimePreKeys < this.#o.minOneTimePreKeys) {
      fresh = await km.generateOneTimePreKeys(this.#o.targetOneTimePreKeys - status.oneTimePreKeys);
    }
    if (rotate || fresh.length > 0) await this.#o.persist?.();
    const spkMissing = status.signedPreKey?.keyId !== km.signedPreKey!.keyId;
    if (!rotate && !spkMissing && fresh.length === 0) {
      return { rotatedSignedPreKey: false, uploadedOneTimePreKeys: 0, oneTimePreKeys: status.oneTimePreKeys };
    }
    // Only the new one-time pre-keys: re-sending claimed ones would let the registry hand them out again.
    const result = await registry.uploadPreKeys(uploadFromKeyManager(km, fresh));
    return { rotatedSignedPreKey: rotate, uploadedOneTimePreKeys: fresh.length, oneTimePreKeys: result.oneTimePreKeys };
  }

  /** Runs now and then every `intervalMs` (default 1 hour) until `stop()`; errors go to `onError`. */
  start(intervalMs = 60 * 60 * 1000, onError: (error: unknown) => void = () => {}): void {
    this.stop();
    const tick = () => {
      this.run()
        .catch(onError)
        .finally(() => {
          if (this.#timer !== null) this.#timer = setTimeout(tick, intervalMs);
        });
    };
    this.#timer = setTimeout(tick, 0);
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
