import type { AgentObject } from '../agent-object.js';
import type { Env as WorkerEnv } from '../env.js';

declare global {
  namespace Cloudflare {
    // Tests reach into agent objects (`runInDurableObject`), so they see the class, not its RPC surface.
    interface Env extends Omit<WorkerEnv, 'AGENTS'> {
      AGENTS: DurableObjectNamespace<AgentObject>;
    }
  }
}

export {};
