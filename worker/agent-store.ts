/**
 * The SQL side of one agent's Durable Object. Every method is synchronous: inside a Durable
 * Object no other event runs in between, so a read followed by a write here is atomic (this is
 * what makes a one-time pre-key claim hand each key out once).
 */

/**
 * seq orders the inbox and is never reused (AUTOINCREMENT: a plain rowid would come back after
 * the newest row is acknowledged), so a socket's paging cursor is a plain "sent up to seq".
 * bytes (the frame's UTF-8 size) comes before the frame, so quota sums never read frames.
 */
const INBOX_TABLE = (name: string) => `CREATE TABLE IF NOT EXISTS ${name} (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL, id TEXT NOT NULL, bytes INTEGER NOT NULL,
  urgent INTEGER NOT NULL DEFAULT 0, ts INTEGER NOT NULL, expires_at INTEGER NOT NULL, frame TEXT NOT NULL,
  UNIQUE (sender, id))`;

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS registration (
     k INTEGER PRIMARY KEY CHECK (k = 1), did TEXT NOT NULL, public_key TEXT NOT NULL,
     identity_key TEXT NOT NULL, capabilities TEXT NOT NULL, metadata TEXT NOT NULL,
     registered_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS signed_pre_keys (
     key_id INTEGER PRIMARY KEY, public_key TEXT NOT NULL, signature TEXT NOT NULL,
     created_at INTEGER NOT NULL, retired_at INTEGER)`,
  `CREATE TABLE IF NOT EXISTS one_time_pre_keys (key_id INTEGER PRIMARY KEY, public_key TEXT NOT NULL)`,
  INBOX_TABLE('inbox'),
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
  // Agents this one chose to write to (message, knock, knock_accept): their frames to it are not a stranger's.
  `CREATE TABLE IF NOT EXISTS peers (did TEXT PRIMARY KEY, last_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS peers_last ON peers (last_at)`,
];

/** Schema version 2: the inbox's never-reused seq, size and urgency columns, and the peers table. */
const SCHEMA_VERSION = '2';

/** Rebuilds a version-1 inbox as version 2 (run once, in one transaction, when such an object wakes). */
const MIGRATE_INBOX_TO_2 = [
  INBOX_TABLE('inbox_v2'),
  `INSERT INTO inbox_v2 (seq, sender, id, bytes, urgent, ts, expires_at, frame)
     SELECT seq, sender, id, length(CAST(frame AS BLOB)), 0, ts, expires_at, frame FROM inbox`,
  'DROP TABLE inbox',
  'ALTER TABLE inbox_v2 RENAME TO inbox',
];

/** Covering indexes: quota sums and the paging window read these, never the frames. */
const INDEXES = [
  `CREATE INDEX IF NOT EXISTS inbox_sender_bytes ON inbox (sender, bytes)`,
  `CREATE INDEX IF NOT EXISTS inbox_seq_bytes ON inbox (seq, bytes, urgent)`,
];

/** Pending frames and their UTF-8 bytes. */
export interface InboxUse {
  count: number;
  bytes: number;
}

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

/** Which stored frames a relay socket may be sent next (see `Relay` paging). */
export interface PageWindow {
  /** Frames at or below this seq were sent already. */
  after: number;
  /** Urgent frames above this seq were pushed when they arrived, so paging skips them. */
  pushedAfter: number;
  maxFrames: number;
  maxBytes: number;
  /** Whether the first frame may exceed maxBytes (nothing else is in flight). */
  firstMayExceed: boolean;
}

/** Prior for the trust score: an unknown agent starts at 500 of 1000, worth this many votes. */
const PRIOR_SCORE = 500;
const PRIOR_WEIGHT = 10;

export class AgentStore {
  #ready: boolean;

  /**
   * Creates no table: an object woken for a DID nobody registered (an anonymous GET, a signer
   * lookup, a frame to nobody) must leave no database behind. The schema is created by the
   * first write, which only registration makes (its replay-cache entry, then the agent).
   */
  constructor(
    private readonly sql: SqlStorage,
    /** Runs a function in one storage transaction (`DurableObjectStorage.transactionSync`). */
    private readonly transaction: <T>(fn: () => T) => T = (fn) => fn(),
  ) {
    this.#ready = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'registration'").toArray().length > 0;
    if (this.#ready) this.#migrate();
  }

  /** Whether this object holds any state (a registration, ever). */
  get exists(): boolean {
    return this.#ready;
  }

  #ensureSchema(): void {
    if (this.#ready) return;
    this.transaction(() => {
      for (const statement of [...SCHEMA, ...INDEXES]) this.sql.exec(statement);
      this.sql.exec("INSERT INTO meta (k, v) VALUES ('schema', ?)", SCHEMA_VERSION);
    });
    this.#ready = true;
  }

  #migrate(): void {
    if (this.getMeta('schema') === SCHEMA_VERSION) return;
    this.transaction(() => {
      const inbox = this.sql.exec("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'inbox'").toArray()[0];
      if (inbox && !/AUTOINCREMENT/i.test(inbox.sql as string)) for (const statement of MIGRATE_INBOX_TO_2) this.sql.exec(statement);
      for (const statement of [...SCHEMA, ...INDEXES]) this.sql.exec(statement);
      this.setMeta('schema', SCHEMA_VERSION);
    });
  }

  // Registration

  registration(): Registration | null {
    if (!this.#ready) return null;
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
    this.#ensureSchema();
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
    for (const table of ['registration', 'signed_pre_keys', 'one_time_pre_keys', 'inbox', 'delivered', 'votes', 'peers']) {
      this.sql.exec(`DELETE FROM ${table}`);
    }
    this.sql.exec("DELETE FROM meta WHERE k <> 'schema'");
  }

  // Replay cache

  /** Records a verified signature; false if it was seen before. */
  rememberSignature(key: string, expiresAt: number): boolean {
    this.#ensureSchema();
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
    return this.inboxUse(sender).count;
  }

  /** What waits in the inbox: in all, or from one sender. */
  inboxUse(sender?: string): InboxUse {
    const cursor = sender === undefined
      ? this.sql.exec('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM inbox')
      : this.sql.exec('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM inbox WHERE sender = ?', sender);
    const row = cursor.one();
    return { count: row.n as number, bytes: row.b as number };
  }

  /** What waits from senders this agent never wrote to (strangers), all together. */
  strangersUse(): InboxUse {
    const row = this.sql.exec(
      'SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM inbox WHERE sender NOT IN (SELECT did FROM peers)',
    ).one();
    return { count: row.n as number, bytes: row.b as number };
  }

  /** Stores a frame; returns its seq. */
  addToInbox(sender: string, id: string, frame: string, bytes: number, urgent: boolean, ts: number, expiresAt: number): number {
    return this.sql.exec(
      'INSERT INTO inbox (sender, id, frame, bytes, urgent, ts, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq',
      sender, id, frame, bytes, urgent ? 1 : 0, ts, expiresAt,
    ).one().seq as number;
  }

  inbox(limit: number, afterSeq = 0, maxBytes = Infinity): InboxRow[] {
    // Sizes first (from the index), then only the frames that fit: a page never loads more than maxBytes.
    const sizes = this.sql.exec('SELECT seq, bytes FROM inbox WHERE seq > ? ORDER BY seq LIMIT ?', afterSeq, limit).toArray();
    let total = 0;
    let last = afterSeq;
    for (const [i, row] of sizes.entries()) {
      total += row.bytes as number;
      if (i > 0 && total > maxBytes) break;
      last = row.seq as number;
    }
    if (last === afterSeq) return [];
    return this.sql
      .exec('SELECT seq, sender, id, frame FROM inbox WHERE seq > ? AND seq <= ? ORDER BY seq', afterSeq, last)
      .toArray()
      .map((row) => ({ seq: row.seq as number, sender: row.sender as string, id: row.id as string, frame: row.frame as string }));
  }

  /** The highest seq stored, or 0. */
  lastSeq(): number {
    return (this.sql.exec('SELECT COALESCE(MAX(seq), 0) AS s FROM inbox').one().s as number);
  }

  /** Frames sent in (from, to] and not yet acknowledged, skipping urgent ones above `pushedAfter`. */
  inFlight(from: number, to: number, pushedAfter: number): InboxUse {
    const row = this.sql.exec(
      `SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM inbox
       WHERE seq > ? AND seq <= ? AND NOT (urgent = 1 AND seq > ?)`,
      from, to, pushedAfter,
    ).one();
    return { count: row.n as number, bytes: row.b as number };
  }

  /**
   * The next page for a socket, in seq order: at most `maxFrames` frames and `maxBytes` bytes
   * (the first may exceed it when nothing else is in flight). Sizes are read from the index
   * first, so only the frames that go out are loaded.
   */
  page(w: PageWindow): { seq: number; frame: string }[] {
    const sizes = this.sql.exec(
      `SELECT seq, bytes FROM inbox WHERE seq > ? AND NOT (urgent = 1 AND seq > ?) ORDER BY seq LIMIT ?`,
      w.after, w.pushedAfter, w.maxFrames,
    ).toArray();
    const chosen: number[] = [];
    let room = w.maxBytes;
    for (const row of sizes) {
      const bytes = row.bytes as number;
      if (bytes > room && !(chosen.length === 0 && w.firstMayExceed)) break;
      chosen.push(row.seq as number);
      room -= bytes;
    }
    if (chosen.length === 0) return [];
    const out: { seq: number; frame: string }[] = [];
    // One row at a time: the page is the most this holds, whatever the inbox holds.
    for (const seq of chosen) {
      const row = this.sql.exec('SELECT frame FROM inbox WHERE seq = ?', seq).toArray()[0];
      if (row) out.push({ seq, frame: row.frame as string });
    }
    return out;
  }

  /**
   * Deletes the frames of the named senders, or of every stranger, remembering their ids as
   * delivered (so copies are refused as duplicates); returns how many went.
   */
  purgeSenders(filter: { senders: string[]; strangers: boolean }, rememberUntil: (ts: number) => number): number {
    const rows = this.sql.exec(
      `SELECT sender, id, ts FROM inbox WHERE sender IN (SELECT value FROM json_each(?))
         OR (? = 1 AND sender NOT IN (SELECT did FROM peers))`,
      JSON.stringify(filter.senders), filter.strangers ? 1 : 0,
    ).toArray();
    for (const row of rows) this.acknowledge(row.sender as string, row.id as string, rememberUntil);
    return rows.length;
  }

  // Peers

  /** Records that this agent wrote to `did`; at most `max` peers are kept (the least recent go). */
  notePeer(did: string, now: number, max: number, refreshMs: number): void {
    const cursor = this.sql.exec(
      `INSERT INTO peers (did, last_at) VALUES (?, ?)
       ON CONFLICT (did) DO UPDATE SET last_at = excluded.last_at WHERE last_at < excluded.last_at - ?`,
      did, now, refreshMs,
    );
    if (cursor.rowsWritten === 0) return;
    this.sql.exec('DELETE FROM peers WHERE did IN (SELECT did FROM peers ORDER BY last_at DESC, did LIMIT -1 OFFSET ?)', max);
  }

  isPeer(did: string): boolean {
    return this.sql.exec('SELECT 1 FROM peers WHERE did = ?', did).toArray().length > 0;
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
    if (!this.#ready) return null;
    const row = this.sql.exec('SELECT v FROM meta WHERE k = ?', key).toArray()[0];
    return row ? (row.v as string) : null;
  }

  setMeta(key: string, value: string): void {
    this.sql.exec('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v', key, value);
  }

  // Expiry

  /** Deletes what has expired; returns the next expiry still pending, if any. */
  purge(now: number, signedPreKeyRetentionMs: number): number | null {
    if (!this.#ready) return null;
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
