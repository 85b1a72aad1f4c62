// The few workerd module APIs these tests use, declared here so that the repository's root
// `tsc --noEmit` (DOM lib, no Workers typings) checks test/workerd too. At run time the real
// modules come from workerd and @cloudflare/vitest-pool-workers.

declare module 'cloudflare:workers' {
  export interface DurableObjectStateLike {
    readonly id: { toString(): string };
    readonly storage: import('../../src/storage/index.js').DurableObjectStorageLike;
    blockConcurrencyWhile<T>(callback: () => Promise<T>): Promise<T>;
  }
  export abstract class DurableObject<Env = unknown> {
    protected readonly ctx: DurableObjectStateLike;
    protected readonly env: Env;
    constructor(ctx: DurableObjectStateLike, env: Env);
  }
}

declare module 'cloudflare:test' {
  import type { AgentHost } from './worker.js';
  import type { DurableObjectStateLike } from 'cloudflare:workers';

  /** RPC stub: every public method of the object, returning a Promise. */
  export type Stub<T> = { [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never };
  export interface Namespace<T> {
    idFromName(name: string): unknown;
    get(id: unknown): Stub<T>;
  }
  export const env: { AGENT_HOST: Namespace<AgentHost> };
  export function runInDurableObject<T, R>(stub: Stub<T>, callback: (instance: T, state: DurableObjectStateLike) => R | Promise<R>): Promise<R>;
  export function abortAllDurableObjects(): Promise<void>;
}
