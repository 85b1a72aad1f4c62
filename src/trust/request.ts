import { TrustError } from './errors.js';
import type { AgentMeshFrame } from './frame.js';
import type { TrustTransport } from './transport.js';

/** Sends `frame` and awaits the answer, with transport failures and silence as `TrustError('transport')`. */
export async function requestAnswer(transport: TrustTransport, frame: AgentMeshFrame, timeoutMs: number): Promise<unknown> {
  const peerDid = frame.to;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TrustError('transport', `${peerDid} did not answer within ${timeoutMs} ms`, { peerDid })), timeoutMs);
  });
  try {
    return await Promise.race([transport.request(frame), timeout]);
  } catch (error) {
    if (error instanceof TrustError) throw error;
    throw new TrustError('transport', `could not reach ${peerDid}: ${(error as Error)?.message ?? String(error)}`, { peerDid, cause: error });
  } finally {
    clearTimeout(timer);
  }
}
