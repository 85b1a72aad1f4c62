import type { AgentRpc, DirectoryRpc } from './rpc.js';

/**
 * Bindings and variables (see wrangler.toml); every variable is optional and has a default in
 * config.ts. The namespaces are typed by the objects' RPC surfaces (rpc.ts), not their classes,
 * so this file imports no object module.
 */
export interface Env {
  AGENTS: DurableObjectNamespace<AgentRpc>;
  DIRECTORY: DurableObjectNamespace<DirectoryRpc>;
  /** The demo's edge agent (optional: a deployment may leave it out); reached by `fetch` only. */
  EDGE_AGENT?: DurableObjectNamespace;
  /** "true" lets `POST /v1/edge-agent/restart` reset the edge agent's object (local runs and tests only). */
  EDGE_AGENT_RESTART?: string;
  ALLOW_TIMESTAMP_ONLY_AUTH?: string;
  MESSAGE_TTL_SECONDS?: string;
  RATE_LIMIT_PER_MINUTE?: string;
  PREKEY_CLAIMS_PER_MINUTE?: string;
  MAX_ONE_TIME_PRE_KEYS?: string;
  MAX_ONE_TIME_PRE_KEYS_PER_UPLOAD?: string;
  INBOX_MAX_PER_RECIPIENT?: string;
  INBOX_MAX_BYTES_PER_RECIPIENT?: string;
  INBOX_MAX_PER_SENDER?: string;
  INBOX_MAX_BYTES_PER_SENDER?: string;
  INBOX_MAX_PER_STRANGER?: string;
  INBOX_MAX_BYTES_PER_STRANGER?: string;
  INBOX_MAX_FROM_STRANGERS?: string;
  INBOX_MAX_BYTES_FROM_STRANGERS?: string;
  MAX_FRAME_BYTES?: string;
}
