/**
 * The SQL side of one agent's Durable Object. Every method is synchronous: inside a Durable
 * Object no other event runs in between, so a read followed by a write here is atomic (this is
 * what makes a one-time pre-key claim hand each key out once).
 */

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS registration (
     k INTEGER PRIMARY KEY CHECK (k = 1), did TEXT NOT NULL, public_key TEXT NOT NULL,
     identity_key TEXT NOT NULL, capabilities TEXT NOT NULL, metadata TEXT NOT NULL,
     registered_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS signed_pre_keys (
     key_id INTEGER PRIMARY KEY, public_key TEXT NOT NULL, signature TEXT NOT NULL,
     created_at INTEGER NOT NULL, retired_at INTEGER)`,
  `CREATE TABLE IF NOT EXISTS one_time_pre_keys (key_id INTEGER PRIMARY KEY, public_key TEXT NOT NULL)`,
  // seq orders the inbox: a new row always gets a rowid above every existing one.
  `CREATE TABLE IF NOT EXISTS inbox (
     seq INTEGER PRIMARY KEY, sender TEXT NOT NULL, id TEXT NOT NULL, frame TEXT NOT NULL,
     ts INTEGER NOT NULL, expires_at INTEGER NOT NULL, UNIQUE (sender, id))`,
  `CREATE INDEX IF NOT EXISTS inbox_expiry ON inbox (expires_at)`,
  // Acknowledged frames, remembered until a replay of them would be refused as too old anyway.
  `CREATE TABLE IF NOT EXISTS delivered (
     sender TEXT NOT NULL, id TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (sender, id))`,
  `CREATE INDEX IF NOT EXISTS delivered_expiry ON delivered (expires_at)`,
  `CREATE TABLE IF NOT EXISTS seen_auth (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS seen_auth_expiry ON seen_auth (expires_at)`,
  `CREATE TABLE IF NOT EXISTS votes (
     reporter TEXT PRIMARY KEY, score INTEGER NOT NULL, comment TEXT, updated_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`,
];

export interface Registration {
  did: string;
  publicKey: string;
  identityKey: string;
  capabilities: string[];
  metadata: string;
  registeredAt: number;
  updatedAt: number;
}

export interface StoredSignedPreKey {
  keyId: number;
  publicKey: string;
  signature: string;
  createdAt: number;
  retiredAt: number | null;
}

export interface InboxRow {
  seq: number;
  sender: string;
  id: string;
  frame: string;
}

/** Prior for the trust score: an unknown agent starts at 500 of 1000, worth this many votes. */
const PRIOR_SCORE = 500;
const PRIOR_WEIGHT = 10;

export class AgentStore {
  constructor(private readonly sql: SqlStorage) {
    for (const statement of SCHEMA) sql.exec(statement);
  }

  // Registration

  registration(): Registration | null {
    const row = this.sql.exec('SELECT * FROM registration WHERE k = 1').toArray()[0];
    if (!row) return null;
    return {
      did: row.did as string,
      publicKey: row.public_key as string,
      identityKey: row.identity_key as string,
      capabilities: JSON.parse(row.capabilities as string) as string[],
      metadata: row.metadata as string,
      registeredAt: row.registered_at as number,
      updatedAt: row.updated_at as number,
    };
  }

  /** Inserts or updates; returns whether the agent is new. */
  register(r: Omit<Registration, 'registeredAt' | 'updatedAt'>, now: number): boolean {
    const existing = this.registration();
    this.sql.exec(
      `INSERT INTO registration (k, did, public_key, identity_key, capabilities, metadata, registered_at, updated_at)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (k) DO UPDATE SET capabilities = excluded.capabilities, metadata = excluded.metadata, updated_at = excluded.updated_at`,
      r.did, r.publicKey, r.identityKey, JSON.stringify(r.capabilities), r.metadata, now, now,
    );
    return existing === null;
  }

  /** Forgets the agent, keeping only the replay cache (so a captured registration cannot be replayed). */
  deleteAgent(): void {
    for (const table of ['registration', 'signed_pre_keys', 'one_time_pre_keys', 'inbox', 'delivered', 'votes', 'meta']) {
      this.sql.exec(`DELETE FROM ${table}`);
    }
  }

  // Replay cache

  /** Records a verified signature; false if it was seen before. */
  rememberSignature(key: string, expiresAt: number): boolean {
    const cursor = this.sql.exec('INSERT INTO seen_auth (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', key, expiresAt);
    return cursor.rowsWritten > 0;
  }

  // Signed pre-keys

  signedPreKeys(): StoredSignedPreKey[] {
    return this.sql
      .exec('SELECT * FROM signed_pre_keys ORDER BY created_at DESC, key_id DESC')
      .toArray()
      .map((row) => ({
        keyId: row.key_id as number,
        publicKey: row.public_key as string,
        signature: row.signature as string,
        createdAt: row.created_at as number,
        retiredAt: (row.retired_at as number | null) ?? null,
      }));
  }

  currentSignedPreKey(): StoredSignedPreKey | null {
    return this.signedPreKeys().find((k) => k.retiredAt === null) ?? null;
  }

  /** Makes a new signed pre-key current and retires the previous one. */
  replaceSignedPreKey(key: { keyId: number; publicKey: string; signature: string }, now: number): void {
    this.sql.exec('UPDATE signed_pre_keys SET retired_at = ? WHERE retired_at IS NULL', now);
    this.sql.exec(
      'INSERT INTO signed_pre_keys (key_id, public_key, signature, created_at) VALUES (?, ?, ?, ?)',
      key.keyId, key.publicKey, key.signature, now,
    );
  }

  // One-time pre-keys

  oneTimePreKeyCount(): number {
    return this.sql.exec('SELECT COUNT(*) AS n FROM one_time_pre_keys').one().n as number;
  }

  oneTimePreKey(keyId: number): string | null {
    const row = this.sql.exec('SELECT public_key FROM one_time_pre_keys WHERE key_id = ?', keyId).toArray()[0];
    return row ? (row.public_key as string) : null;
  }

  addOneTimePreKey(keyId: number, publicKey: string): void {
    this.sql.exec('INSERT INTO one_time_pre_keys (key_id, public_key) VALUES (?, ?)', keyId, publicKey);
  }

  /** Removes and returns one one-time pre-key (the lowest id), in a single statement. */
  claimOneTimePreKey(): { keyId: number; publicKey: string } | null {
    const row = this.sql
      .exec(
        `DELETE FROM one_time_pre_keys WHERE key_id = (SELECT key_id FROM one_time_pre_keys ORDER BY key_id LIMIT 1)
         RETURNING key_id, public_key`,
      )
      .toArray()[0];
    return row ? { keyId: row.key_id as number, publicKey: row.public_key as string } : null;
  }

  // Inbox

  isDuplicate(sender: string, id: string): boolean {
    return (
      this.sql.exec('SELECT 1 FROM inbox WHERE sender = ? AND id = ? UNION ALL SELECT 1 FROM delivered WHERE sender = ? AND id = ?', sender, id, sender, id)
        .toArray().length > 0
    );
  }

  inboxCount(sender?: string): number {
    const cursor = sender === undefined
      ? this.sql.exec('SELECT COUNT(*) AS n FROM inbox')
      : this.sql.exec('SELECT COUNT(*) AS n FROM inbox WHERE sender = ?', sender);
    return cursor.one().n as number;
  }

  addToInbox(sender: string, id: string, frame: string, ts: number, expiresAt: number): void {
    this.sql.exec('INSERT INTO inbox (sender, id, frame, ts, expires_at) VALUES (?, ?, ?, ?, ?)', sender, id, frame, ts, expiresAt);
  }

  inbox(limit: number, afterSeq = 0): InboxRow[] {
    return this.sql
      .exec('SELECT seq, sender, id, frame FROM inbox WHERE seq > ? ORDER BY seq LIMIT ?', afterSeq, limit)
      .toArray()
      .map((row) => ({ seq: row.seq as number, sender: row.sender as string, id: row.id as string, frame: row.frame as string }));
  }

  /** Deletes an acknowledged frame and remembers its id; false if it was not in the inbox. */
  acknowledge(sender: string, id: string, rememberUntil: (ts: number) => number): boolean {
    const row = this.sql.exec('DELETE FROM inbox WHERE sender = ? AND id = ? RETURNING ts', sender, id).toArray()[0];
    if (!row) return false;
    this.sql.exec(
      'INSERT INTO delivered (sender, id, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      sender, id, rememberUntil(row.ts as number),
    );
    return true;
  }

  // Reputation

  vote(reporter: string, score: number, comment: string | null, now: number, maxVotes: number): void {
    this.sql.exec(
      `INSERT INTO votes (reporter, score, comment, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (reporter) DO UPDATE SET score = excluded.score, comment = excluded.comment, updated_at = excluded.updated_at`,
      reporter, score, comment, now,
    );
    // Bounded: the oldest votes give way to new ones.
    this.sql.exec(
      'DELETE FROM votes WHERE reporter IN (SELECT reporter FROM votes ORDER BY updated_at DESC, reporter LIMIT -1 OFFSET ?)',
      maxVotes,
    );
  }

  reputation(): { votes: number; average: number | null; trustScore: number } {
    const row = this.sql.exec('SELECT COUNT(*) AS n, COALESCE(SUM(score), 0) AS total FROM votes').one();
    const n = row.n as number;
    const total = row.total as number;
    return {
      votes: n,
      average: n ? Math.round(total / n) : null,
      trustScore: Math.round((PRIOR_SCORE * PRIOR_WEIGHT + total) / (PRIOR_WEIGHT + n)),
    };
  }

  // Meta

  getMeta(key: string): string | null {
    const row = this.sql.exec('SELECT v FROM meta WHERE k = ?', key).toArray()[0];
    return row ? (row.v as string) : null;
  }

  setMeta(key: string, value: string): void {
    this.sql.exec('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v', key, value);
  }

  // Expiry

  /** Deletes what has expired; returns the next expiry still pending, if any. */
  purge(now: number, signedPreKeyRetentionMs: number): number | null {
    this.sql.exec('DELETE FROM inbox WHERE expires_at <= ?', now);
    this.sql.exec('DELETE FROM delivered WHERE expires_at <= ?', now);
    this.sql.exec('DELETE FROM seen_auth WHERE expires_at <= ?', now);
    this.sql.exec('DELETE FROM signed_pre_keys WHERE retired_at IS NOT NULL AND retired_at <= ?', now - signedPreKeyRetentionMs);
    const row = this.sql.exec(
      `SELECT MIN(t) AS next FROM (
         SELECT MIN(expires_at) AS t FROM inbox UNION ALL SELECT MIN(expires_at) FROM delivered
         UNION ALL SELECT MIN(expires_at) FROM seen_auth
         UNION ALL SELECT MIN(retired_at) + ? FROM signed_pre_keys WHERE retired_at IS NOT NULL)`,
      signedPreKeyRetentionMs,
    ).one();
    return (row.next as number | null) ?? null;
  }
}
