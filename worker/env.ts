import type { AgentObject } from './agent-object.js';
import type { DirectoryObject } from './directory-object.js';
import type { EdgeAgentObject } from './edge-agent.js';

/** Bindings and variables (see wrangler.toml); every variable is optional and has a default in config.ts. */
export interface Env {
  AGENTS: DurableObjectNamespace<AgentObject>;
  DIRECTORY: DurableObjectNamespace<DirectoryObject>;
  /** The demo's edge agent (optional: a deployment may leave it out). */
  EDGE_AGENT?: DurableObjectNamespace<EdgeAgentObject>;
  /** "true" lets `POST /v1/edge-agent/restart` reset the edge agent's object (local runs and tests only). */
  EDGE_AGENT_RESTART?: string;
  ALLOW_TIMESTAMP_ONLY_AUTH?: string;
  MESSAGE_TTL_SECONDS?: string;
  RATE_LIMIT_PER_MINUTE?: string;
  PREKEY_CLAIMS_PER_MINUTE?: string;
  MAX_ONE_TIME_PRE_KEYS?: string;
  MAX_ONE_TIME_PRE_KEYS_PER_UPLOAD?: string;
  INBOX_MAX_PER_RECIPIENT?: string;
  INBOX_MAX_PER_SENDER?: string;
  MAX_FRAME_BYTES?: string;
}
