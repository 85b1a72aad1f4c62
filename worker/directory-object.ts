import { DurableObject } from 'cloudflare:workers';
import { loadConfig, type Config } from './config.js';
import type { Env } from './env.js';
import { HttpError, clientAddress, json, methodNotAllowed, toErrorResponse } from './http.js';
import { RateLimiter } from './rate-limit.js';
import type { DirectoryRpc } from './rpc.js';
import { readCapability, readOptionalInt } from './validate.js';

const MAX_QUERY_CAPABILITIES = 8;

/**
 * Discovery by capability. Agent objects tell it when an agent registers, changes its
 * capabilities, gets a new trust score or leaves; `GET /v1/discover` reads it.
 */
export class DirectoryObject extends DurableObject<Env> implements DirectoryRpc {
  readonly #sql: SqlStorage;
  readonly #config: Config;
  readonly #limiter: RateLimiter;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#config = loadConfig(env);
    this.#limiter = new RateLimiter(this.#config.rateLimitPerMinute);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS agents (
      did TEXT PRIMARY KEY, capabilities TEXT NOT NULL, trust_score INTEGER NOT NULL, updated_at INTEGER NOT NULL)`);
    this.#sql.exec('CREATE TABLE IF NOT EXISTS caps (capability TEXT NOT NULL, did TEXT NOT NULL, PRIMARY KEY (capability, did))');
    this.#sql.exec('CREATE INDEX IF NOT EXISTS caps_did ON caps (did)');
  }

  async upsert(did: string, capabilities: string[], trustScore: number): Promise<void> {
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec(
        `INSERT INTO agents (did, capabilities, trust_score, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (did) DO UPDATE SET capabilities = excluded.capabilities, trust_score = excluded.trust_score, updated_at = excluded.updated_at`,
        did, JSON.stringify(capabilities), trustScore, Date.now(),
      );
      this.#sql.exec('DELETE FROM caps WHERE did = ?', did);
      for (const c of capabilities) this.#sql.exec('INSERT INTO caps (capability, did) VALUES (?, ?)', c, did);
    });
  }

  async setTrustScore(did: string, trustScore: number): Promise<void> {
    this.#sql.exec('UPDATE agents SET trust_score = ? WHERE did = ?', trustScore, did);
  }

  async remove(did: string): Promise<void> {
    this.#sql.exec('DELETE FROM caps WHERE did = ?', did);
    this.#sql.exec('DELETE FROM agents WHERE did = ?', did);
  }

  /** `GET /v1/discover?capability=…[&capability=…][&limit=n]`: agents holding every named capability, best trust first. */
  override async fetch(request: Request): Promise<Response> {
    try {
      if (request.method !== 'GET') throw methodNotAllowed('GET');
      const wait = this.#limiter.hit(clientAddress(request), Date.now());
      if (wait > 0) throw new HttpError(429, 'rate_limited', 'too many requests; slow down', { 'retry-after': String(wait) });
      const params = new URL(request.url).searchParams;
      const wanted = [...new Set(params.getAll('capability'))];
      if (wanted.length > MAX_QUERY_CAPABILITIES) {
        throw new HttpError(400, 'invalid_query', `at most ${MAX_QUERY_CAPABILITIES} capabilities per query`);
      }
      wanted.forEach(readCapability);
      const max = this.#config.maxDiscoverResults;
      const limit = readOptionalInt(params.get('limit'), 'limit', 1, max, 50);
      const rows = wanted.length
        ? this.#sql.exec(
            `SELECT did, capabilities, trust_score FROM agents WHERE did IN (
               SELECT did FROM caps WHERE capability IN (${wanted.map(() => '?').join(',')}) GROUP BY did HAVING COUNT(*) = ?)
             ORDER BY trust_score DESC, did LIMIT ?`,
            ...wanted, wanted.length, limit,
          ).toArray()
        : this.#sql.exec('SELECT did, capabilities, trust_score FROM agents ORDER BY trust_score DESC, did LIMIT ?', limit).toArray();
      const agents = rows.map((r) => ({
        did: r.did as string,
        capabilities: JSON.parse(r.capabilities as string) as string[],
        trust_score: r.trust_score as number,
      }));
      return json({ agents, count: agents.length });
    } catch (error) {
      return toErrorResponse(error);
    }
  }
}
