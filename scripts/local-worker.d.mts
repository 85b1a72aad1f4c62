export interface LocalWorkerOptions {
  /** Default: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** State directory; default a new temporary one, removed by stop(). */
  persistTo?: string;
  /** Worker variables (wrangler.toml [vars], worker/config.ts). */
  vars?: Record<string, string>;
  /** Readiness wait (default 90 s). */
  timeoutMs?: number;
  /** Receives wrangler's output lines. */
  log?: (line: string) => void;
}

export interface LocalWorker {
  url: string;
  port: number;
  persistTo: string;
  pid: number;
  /** The last lines wrangler printed. */
  output: string[];
  stop(): Promise<void>;
}

export function freePort(host?: string): Promise<number>;
export function startLocalWorker(options?: LocalWorkerOptions): Promise<LocalWorker>;
