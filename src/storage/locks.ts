/**
 * One writer per session. Every read-modify-write of a session (or of the pre-key counters) runs
 * inside `run(name, …)`; two calls with one name never overlap.
 */
export interface SessionLocks {
  /** `web-locks` serializes across tabs and workers of one origin; `mutex` within one JS realm. */
  readonly kind: 'web-locks' | 'mutex';
  run<T>(name: string, task: () => Promise<T>): Promise<T>;
}

/** In-process exclusive locks by name (a promise chain per name, dropped when idle). */
export class MutexLocks implements SessionLocks {
  readonly kind = 'mutex' as const;
  readonly #tails = new Map<string, Promise<void>>();

  run<T>(name: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(name) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(name, tail);
    void tail.then(() => {
      if (this.#tails.get(name) === tail) this.#tails.delete(name);
    });
    return result;
  }

  /** Names with a holder or waiters (for tests and diagnostics). */
  get busy(): string[] {
    return [...this.#tails.keys()];
  }
}

interface LockManagerLike {
  request<T>(name: string, options: { mode: 'exclusive' }, callback: () => Promise<T>): Promise<T>;
}

/** Web Locks: the browser holds the lock across every tab and worker of the origin until `task` settles. */
export class WebLocks implements SessionLocks {
  readonly kind = 'web-locks' as const;
  readonly #manager: LockManagerLike;

  constructor(manager: LockManagerLike = webLockManager() as LockManagerLike) {
    if (!manager || typeof manager.request !== 'function') throw new TypeError('no Web Locks LockManager (navigator.locks) here');
    this.#manager = manager;
  }

  run<T>(name: string, task: () => Promise<T>): Promise<T> {
    return this.#manager.request(name, { mode: 'exclusive' }, task);
  }
}

function webLockManager(nav: unknown = (globalThis as { navigator?: unknown }).navigator): LockManagerLike | undefined {
  const locks = (nav as { locks?: LockManagerLike } | undefined)?.locks;
  return locks && typeof locks.request === 'function' ? locks : undefined;
}

// One per realm, so that every manager in this process over the same store shares its locks.
const processMutex = new MutexLocks();

/**
 * Web Locks where the runtime has them (browsers), otherwise the realm's shared mutex (Node, workerd).
 * `nav` stands in for `navigator` (tests).
 */
export function defaultLocks(nav?: unknown): SessionLocks {
  const manager = nav === undefined ? webLockManager() : webLockManager(nav);
  return manager ? new WebLocks(manager) : processMutex;
}
