import { uploadFromKeyManager } from '../net/prekey-upload.js';
import type { X3DHKeyManager } from '../x3dh/key-manager.js';
import { UPKEEP_INTERVAL_MS } from './policy.js';
import { checkUpkeepPolicy, runUpkeep, type PublicOneTimePreKey, type UpkeepPolicy, type UpkeepRegistry, type UpkeepResult } from './upkeep.js';

export interface PreKeyUpkeepOptions extends UpkeepPolicy {
  keyManager: X3DHKeyManager;
  registry: UpkeepRegistry;
  /** Clock (ms since the epoch); give the key manager the same one. */
  now?: () => number;
  /**
   * Called after new private keys were generated and before their public halves are uploaded:
   * persist the key manager here, or a crash could publish keys nobody can use.
   */
  persist?: () => Promise<void>;
}

/**
 * Keeps the published pre-keys of an in-memory `X3DHKeyManager` healthy, by the policy of
 * `policy.ts` (rotation every 7 days, top-up below 5). `run()` does one check; `start()` repeats it.
 */
export class PreKeyUpkeep {
  readonly #keyManager: X3DHKeyManager;
  readonly #registry: UpkeepRegistry;
  readonly #now: () => number;
  readonly #policy: Required<UpkeepPolicy>;
  readonly #persist: (() => Promise<void>) | undefined;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #running: Promise<UpkeepResult> | null = null;

  constructor(options: PreKeyUpkeepOptions) {
    this.#keyManager = options.keyManager;
    this.#registry = options.registry;
    this.#now = options.now ?? Date.now;
    this.#policy = checkUpkeepPolicy(options);
    this.#persist = options.persist;
  }

  /** One check-and-fix; concurrent calls share the run in progress. */
  run(): Promise<UpkeepResult> {
    this.#running ??= this.#run().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  #run(): Promise<UpkeepResult> {
    const km = this.#keyManager;
    const persist = this.#persist;
    const holder = {
      signedPreKeyCreatedAt: async () => km.signedPreKey?.createdAt ?? null,
      rotateSignedPreKey: () => km.generateSignedPreKey(),
      addOneTimePreKeys: async (count: number) =>
        (await km.generateOneTimePreKeys(count)).map((k) => ({ keyId: k.keyId, publicKey: k.keyPair.publicKey })),
      upload: async (oneTimePreKeys: readonly PublicOneTimePreKey[]) => ({ ...uploadFromKeyManager(km), oneTimePreKeys }),
      ...(persist ? { persist } : {}),
    };
    return runUpkeep(holder, this.#registry, this.#now, this.#policy);
  }

  /** Runs now and then every `intervalMs` (default `UPKEEP_INTERVAL_MS`, 1 hour) until `stop()`; errors go to `onError`. */
  start(intervalMs = UPKEEP_INTERVAL_MS, onError: (error: unknown) => void = () => {}): void {
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
